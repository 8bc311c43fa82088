# Pauses expiring on the fake clock.
@requires fake-clock

=== a blocking reserve on a paused tube is served exactly when the pause ends
> pause-tube default 2
< PAUSED
> put 0 0 60 1
> x
< INSERTED $a
@conn worker
> list-tube-used
< USING default
> reserve
@conn main
@advance 1999
> stats
<yaml
| ---
| ...
| current-waiting: 1
| ...
@advance 1
@conn worker
< RESERVED $a 1
< x

=== pause and pause-time-left while paused and after
> pause-tube default 2
< PAUSED
> stats-tube default
<yaml
| ---
| ...
| pause: 2
| pause-time-left: 2
@advance 500
> stats-tube default
<yaml
| ---
| ...
| pause: 2
| pause-time-left: 1
@advance 1000
> stats-tube default
<yaml
| ---
| ...
| pause: 2
| pause-time-left: 0
@advance 500
> stats-tube default
<yaml
| ---
| ...
| cmd-pause-tube: 1
| pause: 0
| pause-time-left: 0

=== reserve-with-timeout 0 on a paused tube, then after the pause
> put 0 0 60 1
> x
< INSERTED $a
> pause-tube default 1
< PAUSED
> reserve-with-timeout 0
< TIMED_OUT
@advance 1000
> reserve-with-timeout 0
< RESERVED $a 1
< x

=== pausing again replaces the earlier pause
> put 0 0 60 1
> x
< INSERTED $a
> pause-tube default 10
< PAUSED
> pause-tube default 2
< PAUSED
@advance 2000
> reserve-with-timeout 0
< RESERVED $a 1
< x

=== a longer pause set later keeps the tube paused
> put 0 0 60 1
> x
< INSERTED $a
> pause-tube default 2
< PAUSED
> pause-tube default 10
< PAUSED
@advance 2000
> reserve-with-timeout 0
< TIMED_OUT
@advance 8000
> reserve-with-timeout 0
< RESERVED $a 1
< x

=== a waiting reserve with a timeout longer than the pause gets the job
> put 0 0 60 1
> x
< INSERTED $a
> pause-tube default 3
< PAUSED
> reserve-with-timeout 5
@advance 3000
< RESERVED $a 1
< x
