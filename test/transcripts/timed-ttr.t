# Time-to-run on the fake clock: expiry, counters, touch.
@requires fake-clock

=== a reserved job returns to ready when its ttr runs out
> put 0 0 2 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@advance 1999
> stats-job $a
<yaml
| ---
| ...
| state: reserved
| ...
| ttr: 2
| time-left: 0
| ...
@advance 1
> stats-job $a
<yaml
| ---
| id: $a
| tube: "default"
|1.12 tube: default
| state: ready
| pri: 0
| age: 2
| delay: 0
| ttr: 2
| time-left: 0
| file: 0
| reserves: 1
| timeouts: 1
| releases: 0
| buries: 0
| kicks: 0
> stats
<yaml
| ---
| current-jobs-urgent: 1
| current-jobs-ready: 1
| current-jobs-reserved: 0
| ...
| job-timeouts: 1
| ...

=== time-left of a reserved job counts down
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> stats-job $a
<yaml
| ---
| ...
| time-left: 60
| ...
@advance 1500
> stats-job $a
<yaml
| ---
| ...
| time-left: 58
| ...

=== touch restarts the full ttr
> put 0 0 10 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@advance 8000
> touch $a
< TOUCHED
> stats-job $a
<yaml
| ---
| ...
| time-left: 10
| ...
@advance 8000
> stats-job $a
<yaml
| ---
| ...
| state: reserved
| ...
@advance 2000
> stats-job $a
<yaml
| ---
| ...
| state: ready
| ...
| timeouts: 1
| ...
> touch $a
< NOT_FOUND

=== after its ttr ran out the job is no longer the old owner's
@conn owner
> put 0 0 2 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@advance 2000
> release $a 0 0
< NOT_FOUND
> bury $a 0
< NOT_FOUND
> touch $a
< NOT_FOUND
@conn other
> reserve
< RESERVED $a 1
< x
@conn owner
> delete $a
< NOT_FOUND

=== a job whose ttr runs out goes to a waiting worker
@conn owner
> put 0 0 2 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@conn waiter
> list-tube-used
< USING default
> reserve
@conn owner
> stats
<yaml
| ---
| ...
| current-waiting: 1
| ...
@advance 2000
@conn waiter
< RESERVED $a 1
< x

=== a ttr-1 job reserved with reserve-job from delayed gets DEADLINE_SOON, then returns to ready
> put 0 100 1 1
> x
< INSERTED $a
> reserve-job $a
< RESERVED $a 1
< x
> reserve-with-timeout 5
< DEADLINE_SOON
@advance 1000
> stats-job $a
<yaml
| ---
| ...
| state: ready
| ...
| reserves: 1
| timeouts: 1
| ...
> peek-ready
< FOUND $a 1
< x

=== closing a connection returns its job without counting a timeout
@conn worker
> put 0 0 5 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> quit
@eof
@conn main
> stats-job $a
<yaml
| ---
| ...
| state: ready
| ...
| timeouts: 0
| ...
@advance 10000
> stats
<yaml
| ---
| ...
| job-timeouts: 0
| ...
