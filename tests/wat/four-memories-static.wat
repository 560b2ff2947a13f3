;; Four core instances whose memories start at 48 MiB each: instantiation itself must
;; fail with the memory limit (192 MiB > 64 MiB), so the component never loads.
(core module $bulk (memory (export "memory") 768))
(core instance $a (instantiate $bulk))
(core instance $b (instantiate $bulk))
(core instance $c (instantiate $bulk))
(core instance $d (instantiate $bulk))
(core module $main
  (memory (export "memory") 1)
  (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0x100))
  (func (export "run") (param i32 i32) (result i32)
    (i32.store8 (i32.const 0x10) (i32.const 0))
    (i32.store (i32.const 0x14) (i32.const 0))
    (i32.store (i32.const 0x18) (i32.const 0))
    (i32.const 0x10)))
(core instance $i (instantiate $main))
(func (export "run") (type $run)
  (canon lift (core func $i "run") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
