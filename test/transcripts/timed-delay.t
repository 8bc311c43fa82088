# Delays on the fake clock: delayed jobs become ready exactly when their delay ends.
# In every fake-clock transcript, a connection whose command must reach the server before the
# clock moves has been answered at least once (so the server has accepted it), and a waiter is
# confirmed with `current-waiting` from another connection where the timing is the point.
@requires fake-clock

=== a delayed job becomes ready when its delay ends, not before
> put 0 5 60 1
> x
< INSERTED $a
@advance 4999
> peek-ready
< NOT_FOUND
> stats-job $a
<yaml
| ---
| id: $a
| ...
| state: delayed
| ...
| delay: 5
| ttr: 60
| time-left: 0
| ...
@advance 1
> peek-ready
< FOUND $a 1
< x
> stats-tube default
<yaml
| ---
| ...
| current-jobs-ready: 1
| current-jobs-reserved: 0
| current-jobs-delayed: 0
| ...

=== a delay of 1 second
> put 0 1 60 1
> x
< INSERTED $a
> reserve-with-timeout 0
< TIMED_OUT
@advance 1000
> reserve-with-timeout 0
< RESERVED $a 1
< x

=== time-left of a delayed job counts down in whole seconds
> put 0 10 60 1
> x
< INSERTED $a
> stats-job $a
<yaml
| ---
| ...
| time-left: 10
| ...
@advance 2500
> stats-job $a
<yaml
| ---
| ...
| age: 2
| delay: 10
| ttr: 60
| time-left: 7
| ...

=== a waiting reserve gets a delayed job once it is ready
@conn worker
> list-tube-used
< USING default
> reserve
@conn main
> put 0 2 60 1
> x
< INSERTED $a
> stats
<yaml
| ---
| ...
| current-waiting: 1
| ...
@advance 2000
@conn worker
< RESERVED $a 1
< x

=== delayed jobs become ready in deadline order
> put 0 3 60 1
> a
< INSERTED $a
> put 0 1 60 1
> b
< INSERTED $b
> put 0 2 60 1
> c
< INSERTED $c
@advance 1000
> peek-ready
< FOUND $b 1
< b
> peek-delayed
< FOUND $c 1
< c
@advance 1000
> peek-delayed
< FOUND $a 1
< a
@advance 1000
> peek-delayed
< NOT_FOUND
> reserve
< RESERVED $a 1
< a

=== release with a delay makes the job delayed, then ready
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> release $a 5 3
< RELEASED
> stats-job $a
<yaml
| ---
| id: $a
| ...
| state: delayed
| pri: 5
| ...
| delay: 3
| ttr: 60
| time-left: 3
| ...
| releases: 1
| ...
> reserve-with-timeout 0
< TIMED_OUT
@advance 3000
> reserve-with-timeout 0
< RESERVED $a 1
< x

=== kick moves a delayed job to ready before its time
> put 0 100 60 1
> x
< INSERTED $a
@advance 50000
> kick 1
< KICKED 1
> stats-job $a
<yaml
| ---
| ...
| state: ready
| ...
| age: 50
| delay: 100
| ttr: 60
| time-left: 0
| ...
| kicks: 1
