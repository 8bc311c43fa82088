# DEADLINE_SOON without the clock: a held job with ttr 1 is already inside the 1 s safety margin.
# The timed cases (margin reached while waiting) are in timed-deadline-soon.t.

=== reserve while holding a job inside its safety margin answers DEADLINE_SOON at once
> put 0 0 1 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> reserve
< DEADLINE_SOON
> reserve-with-timeout 10
< DEADLINE_SOON
> reserve-with-timeout 0
< DEADLINE_SOON
> stats-job $a
<yaml
| ---
| id: $a
| ...
| state: reserved
| ...
| reserves: 1
| timeouts: 0
| ...
> release $a 0 0
< RELEASED
> reserve
< RESERVED $a 1
< x

=== a ready job on a watched tube wins over DEADLINE_SOON
> put 0 0 1 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> put 0 0 60 1
> y
< INSERTED $b
> reserve
< RESERVED $b 1
< y

=== a ready job on an unwatched tube does not prevent DEADLINE_SOON
> put 0 0 1 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> use elsewhere
< USING elsewhere
> put 0 0 60 1
> y
< INSERTED $b
> reserve
< DEADLINE_SOON

=== a job held with a long ttr does not trigger DEADLINE_SOON
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> reserve-with-timeout 0
< TIMED_OUT

=== another connection's job near its deadline does not concern us
@conn other
> put 0 0 1 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@conn main
> reserve-with-timeout 0
< TIMED_OUT

=== reserve-job never answers DEADLINE_SOON
> put 0 0 1 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> put 0 3600 60 1
> d
< INSERTED $d
> reserve-job $d
< RESERVED $d 1
< d

=== DEADLINE_SOON still counts the reserve command
> put 0 0 1 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> reserve
< DEADLINE_SOON
> reserve-with-timeout 5
< DEADLINE_SOON
> stats
<yaml
| ---
| ...
| cmd-reserve: 2
| cmd-reserve-with-timeout: 1
| ...
