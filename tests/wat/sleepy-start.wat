;; A start function that sleeps for an hour in a WASI host call (subscribe to the
;; monotonic clock, block on the pollable): instantiation itself must be bounded in
;; wall time, since epoch interruption never fires while the guest waits in the host.
(import "wasi:io/poll@0.2.0" (instance $poll
  (export "pollable" (type (sub resource)))
  (type (borrow 0))
  (export "[method]pollable.block" (func (param "self" 1)))))
(alias export $poll "pollable" (type $pollable))
(import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock
  (alias outer 1 $pollable (type))
  (export "pollable" (type (eq 0)))
  (type (own 1))
  (export "subscribe-duration" (func (param "when" u64) (result 2)))))
(core func $subscribe (canon lower (func $clock "subscribe-duration")))
(core func $block (canon lower (func $poll "[method]pollable.block")))
(core module $sleeper
  (import "wasi" "subscribe-duration" (func $subscribe (param i64) (result i32)))
  (import "wasi" "block" (func $block (param i32)))
  (func $start (call $block (call $subscribe (i64.const 3600000000000))))
  (start $start))
(core instance $sleeper (instantiate $sleeper
  (with "wasi" (instance
    (export "subscribe-duration" (func $subscribe))
    (export "block" (func $block))))))
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
