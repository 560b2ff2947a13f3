;; Four core instances, each growing its own linear memory to 48 MiB in run: every one
;; is under the 64 MiB default, together they are 192 MiB. One budget must cover them.
(core module $bulk
  (memory (export "memory") 1)
  (func (export "grow")
    ;; 767 more pages: 48 MiB. A refused growth traps (the host's limiter).
    (drop (memory.grow (i32.const 767)))
    (i32.store (i32.const 0x2fffffc) (i32.const 1))))
(core instance $a (instantiate $bulk))
(core instance $b (instantiate $bulk))
(core instance $c (instantiate $bulk))
(core instance $d (instantiate $bulk))
(core module $main
  (import "bulk" "a" (func $a))
  (import "bulk" "b" (func $b))
  (import "bulk" "c" (func $c))
  (import "bulk" "d" (func $d))
  (memory (export "memory") 1)
  (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0x100))
  (func (export "run") (param i32 i32) (result i32)
    (call $a) (call $b) (call $c) (call $d)
    (i32.store8 (i32.const 0x10) (i32.const 0))
    (i32.store (i32.const 0x14) (i32.const 0))
    (i32.store (i32.const 0x18) (i32.const 0))
    (i32.const 0x10)))
(core instance $bulk-funcs
  (export "a" (func $a "grow"))
  (export "b" (func $b "grow"))
  (export "c" (func $c "grow"))
  (export "d" (func $d "grow")))
(core instance $i (instantiate $main (with "bulk" (instance $bulk-funcs))))
(func (export "run") (type $run)
  (canon lift (core func $i "run") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
