;; 100 samples whose names all point at the same 64 KiB of guest memory: each name is
;; under the 1 MiB output budget, together they are 6.4 MiB. The budget counts every
;; copy, so the run is refused before the host holds the names.
(core module $m
  (memory (export "memory") 32)
  (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0x100))
  (func (export "run") (param i32 i32) (result i32)
    (local $i i32)
    (local $sample i32)
    (memory.fill (i32.const 0x10000) (i32.const 0x61) (i32.const 65536))
    ;; result: ok(list at 0x1000, 100 samples of 32 bytes)
    (i32.store8 (i32.const 0x10) (i32.const 0))
    (i32.store (i32.const 0x14) (i32.const 0x1000))
    (i32.store (i32.const 0x18) (i32.const 100))
    (loop $fill
      (local.set $sample (i32.add (i32.const 0x1000) (i32.mul (local.get $i) (i32.const 32))))
      ;; name: the shared buffer; value 1; unit "a" (the buffer's first byte); no labels
      (i32.store (local.get $sample) (i32.const 0x10000))
      (i32.store offset=4 (local.get $sample) (i32.const 65536))
      (f64.store offset=8 (local.get $sample) (f64.const 1))
      (i32.store offset=16 (local.get $sample) (i32.const 0x10000))
      (i32.store offset=20 (local.get $sample) (i32.const 1))
      (i32.store offset=24 (local.get $sample) (i32.const 0))
      (i32.store offset=28 (local.get $sample) (i32.const 0))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 100))))
    (i32.const 0x10)))
(core instance $i (instantiate $m))
(func (export "run") (type $run)
  (canon lift (core func $i "run") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
