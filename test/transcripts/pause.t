# pause-tube without the clock: what a pause blocks (reserve) and what it does not (put, peek,
# kick, delete, reserve-job), pause 0, unknown tubes, and pauses lost with the tube.
# Pauses expiring with time are in timed-pause.t.

=== a paused tube gives no jobs to reserve but everything else works
> pause-tube default 3600
< PAUSED
> put 0 0 60 1
> x
< INSERTED $a
> put 0 0 60 1
> y
< INSERTED $b
> reserve-with-timeout 0
< TIMED_OUT
> peek-ready
< FOUND $a 1
< x
> reserve-job $a
< RESERVED $a 1
< x
> bury $a 0
< BURIED
> kick 1
< KICKED 1
> delete $b
< DELETED
> reserve-with-timeout 0
< TIMED_OUT

=== reserve skips a paused tube and takes from the others
> use t
< USING t
> put 0 0 60 1
> p
< INSERTED $p
> use default
< USING default
> put 100 0 60 1
> d
< INSERTED $d
> watch t
< WATCHING 2
> pause-tube t 3600
< PAUSED
> reserve
< RESERVED $d 1
< d
> reserve-with-timeout 0
< TIMED_OUT

=== stats-tube shows the pause and counts pause-tube
> pause-tube default 3600
< PAUSED
> stats-tube default
<yaml
| ---
| name: "default"
|1.12 name: default
| ...
| cmd-delete: 0
| cmd-pause-tube: 1
| pause: 3600
| pause-time-left: *
> pause-tube default 7200
< PAUSED
> stats-tube default
<yaml
| ---
| ...
| cmd-pause-tube: 2
| pause: 7200
| pause-time-left: *

=== pause-tube T 0 unpauses at once and wakes a waiting reserve
> watch t
< WATCHING 2
> ignore default
< WATCHING 1
> pause-tube t 86400
< PAUSED
@conn producer
> use t
< USING t
> put 0 0 60 1
> x
< INSERTED $a
@conn main
> reserve
@conn producer
> pause-tube t 0
< PAUSED
@conn main
< RESERVED $a 1
< x
> stats-tube t
<yaml
| ---
| ...
| cmd-pause-tube: 2
| pause: 0
| pause-time-left: 0

=== pause-tube of an unknown tube is NOT_FOUND and creates nothing
> pause-tube nosuch 10
< NOT_FOUND
> list-tubes
<yaml
| ---
| - default

=== pause-tube argument errors
> pause-tube default -1
< BAD_FORMAT
> pause-tube default 4294967296
< BAD_FORMAT
> pause-tube -default 5
< BAD_FORMAT
> pause-tube default*5
< BAD_FORMAT
> pause-tube  default  4294967295
< PAUSED

=== a pause is lost when its tube is garbage collected
> use t
< USING t
> pause-tube t 3600
< PAUSED
> use default
< USING default
> stats-tube t
< NOT_FOUND
> use t
< USING t
> stats-tube t
<yaml
| ---
| ...
| cmd-pause-tube: 0
| pause: 0
| pause-time-left: 0
