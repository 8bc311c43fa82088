# reserve-with-timeout on the fake clock.
@requires fake-clock

=== reserve-with-timeout 1 times out after exactly one second
@conn waiter
> list-tube-used
< USING default
> reserve-with-timeout 1
@conn main
@advance 999
> stats
<yaml
| ---
| ...
| current-waiting: 1
| ...
@advance 1
@conn waiter
< TIMED_OUT
@conn main
> stats
<yaml
| ---
| ...
| cmd-reserve-with-timeout: 1
| ...
| current-workers: 1
| current-waiting: 0
| ...

=== reserve-with-timeout times out while another connection watches the tube
@conn a
> watch t
< WATCHING 2
> reserve
@conn b
> watch t
< WATCHING 2
> reserve-with-timeout 1
@advance 1000
< TIMED_OUT
> put 0 0 60 1
> x
< INSERTED $a
@conn a
< RESERVED $a 1
< x

=== a job put while waiting is taken before the timeout
> reserve-with-timeout 10
@conn producer
> put 0 0 60 1
> x
< INSERTED $a
@conn main
< RESERVED $a 1
< x
@advance 10000
> reserve-with-timeout 0
< TIMED_OUT

=== a job that becomes ready while waiting is taken before the timeout
> put 0 5 60 1
> x
< INSERTED $a
> reserve-with-timeout 10
@conn other
> stats
<yaml
| ---
| ...
| current-waiting: 1
| ...
@advance 5000
@conn main
< RESERVED $a 1
< x

=== a timed-out connection can reserve again
> list-tube-used
< USING default
> reserve-with-timeout 2
@advance 2000
< TIMED_OUT
> reserve-with-timeout 2
@advance 1000
@conn producer
> put 0 0 60 1
> x
< INSERTED $a
@conn main
< RESERVED $a 1
< x
