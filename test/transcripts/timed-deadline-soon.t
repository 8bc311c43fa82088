# DEADLINE_SOON while waiting, on the fake clock: the waiter is told when its held job's
# deadline is one second away (the safety margin).
@requires fake-clock

=== a blocking reserve holding a ttr-3 job gets DEADLINE_SOON after 2 seconds
> put 0 0 3 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> reserve
@conn other
> stats
<yaml
| ---
| ...
| current-waiting: 1
| ...
@advance 1999
> stats
<yaml
| ---
| ...
| current-waiting: 1
| ...
@advance 1
@conn main
< DEADLINE_SOON
> stats-job $a
<yaml
| ---
| ...
| state: reserved
| ...
| time-left: 1
| ...
@advance 1000
> stats-job $a
<yaml
| ---
| ...
| state: ready
| ...
| timeouts: 1
| ...

=== DEADLINE_SOON wins over a reserve timeout that ends at the same moment
> put 0 0 3 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> reserve-with-timeout 2
@advance 2000
< DEADLINE_SOON

=== a reserve timeout that ends before the margin is TIMED_OUT
> put 0 0 3 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> reserve-with-timeout 1
@advance 1000
< TIMED_OUT
> reserve-with-timeout 10
@advance 1000
< DEADLINE_SOON

=== a job put while waiting comes before DEADLINE_SOON
> put 0 0 3 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> reserve
@conn producer
> put 0 0 60 1
> y
< INSERTED $b
@conn main
< RESERVED $b 1
< y

=== a ready job in a paused watched tube stops the immediate DEADLINE_SOON but is not served
> put 0 0 3 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> use t
< USING t
> put 0 0 60 1
> p
< INSERTED $p
> watch t
< WATCHING 2
> pause-tube t 3600
< PAUSED
@advance 1500
> reserve
@advance 500
< DEADLINE_SOON

=== touch pushes DEADLINE_SOON back
> put 0 0 3 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@advance 1500
> touch $a
< TOUCHED
> reserve
@advance 1999
@conn other
> stats
<yaml
| ---
| ...
| current-waiting: 1
| ...
@advance 1
@conn main
< DEADLINE_SOON
