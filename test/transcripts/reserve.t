# reserve, reserve-with-timeout and reserve-job without the clock: selection order, waking,
# pipelining behind a blocked reserve, and what closing a connection does to its reservations.

=== reserve takes the lowest priority first, then the oldest job
> put 10 0 60 1
> a
< INSERTED $a
> put 5 0 60 1
> b
< INSERTED $b
> put 10 0 60 1
> c
< INSERTED $c
> reserve
< RESERVED $b 1
< b
> reserve
< RESERVED $a 1
< a
> reserve
< RESERVED $c 1
< c
> reserve-with-timeout 0
< TIMED_OUT

=== priority is compared unsigned
> put 4294967295 0 60 1
> a
< INSERTED $a
> put 2147483648 0 60 1
> b
< INSERTED $b
> reserve
< RESERVED $b 1
< b

=== reserve picks across watched tubes by priority, then by id
> use t1
< USING t1
> put 10 0 60 1
> a
< INSERTED $a
> use t2
< USING t2
> put 5 0 60 1
> b
< INSERTED $b
> put 10 0 60 1
> c
< INSERTED $c
> watch t1
< WATCHING 2
> watch t2
< WATCHING 3
> reserve
< RESERVED $b 1
< b
> reserve
< RESERVED $a 1
< a
> reserve
< RESERVED $c 1
< c

=== reserve only looks at watched tubes
> use other
< USING other
> put 0 0 60 1
> x
< INSERTED $a
> reserve-with-timeout 0
< TIMED_OUT
> watch other
< WATCHING 2
> reserve-with-timeout 0
< RESERVED $a 1
< x

=== a blocked reserve is woken by a put on a watched tube only
> watch t
< WATCHING 2
> ignore default
< WATCHING 1
> reserve
@conn producer
> put 0 0 60 1
> x
< INSERTED $a
> use t
< USING t
> put 0 0 60 1
> y
< INSERTED $b
@conn main
< RESERVED $b 1
< y

=== a blocked reserve is woken by a release from another connection
@conn owner
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@conn waiter
> reserve
@conn owner
> release $a 0 0
< RELEASED
@conn waiter
< RESERVED $a 1
< x

=== commands pipelined behind a blocked reserve are answered after it
>> reserve\r\nlist-tube-used\r\nuse after\r\n
@conn producer
> list-tube-used
< USING default
> put 0 0 60 1
> x
< INSERTED $a
@conn main
< RESERVED $a 1
< x
< USING default
< USING after

=== reserve-with-timeout 0 times out at once and the connection goes on
> reserve-with-timeout 0
< TIMED_OUT
> put 0 0 60 1
> x
< INSERTED $a
> reserve-with-timeout 0
< RESERVED $a 1
< x

=== closing a connection returns its reserved jobs to ready
@conn worker
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@conn other
> reserve
@conn worker
@close
@conn other
< RESERVED $a 1
< x

=== quit returns reserved jobs to ready
@conn worker
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@conn other
> reserve
@conn worker
> quit
@eof
@conn other
< RESERVED $a 1
< x
> stats-job $a
<yaml
| ---
| id: $a
| ...
| reserves: 2
| timeouts: 0
| releases: 0
| ...

=== a waiting client that half-closes gets TIMED_OUT and is closed
> reserve
@shutdown
< TIMED_OUT
@eof

=== a half-closed reserve-with-timeout gets TIMED_OUT too
> reserve-with-timeout 100
@shutdown
< TIMED_OUT
@eof

=== waiting connections count as waiting and as workers
@conn waiter
> list-tube-used
< USING default
> reserve
@conn main
> stats
<yaml
| ---
| ...
| current-connections: 2
| current-producers: 0
| current-workers: 1
| current-waiting: 1
| total-connections: 2
| ...
> stats-tube default
<yaml
| ---
| name: "default"
|1.12 name: default
| ...
| current-using: 2
| current-watching: 2
| current-waiting: 1
| ...

=== reserve-job takes a ready job out of order
> put 0 0 60 1
> a
< INSERTED $a
> put 0 0 60 1
> b
< INSERTED $b
> reserve-job $b
< RESERVED $b 1
< b
> reserve-job $b
< NOT_FOUND
> reserve
< RESERVED $a 1
< a
> release $b 0 0
< RELEASED
> reserve
< RESERVED $b 1
< b

=== reserve-job takes delayed and buried jobs; release makes them ready
> put 0 3600 60 1
> d
< INSERTED $d
> put 0 0 60 1
> b
< INSERTED $b
> reserve
< RESERVED $b 1
< b
> bury $b 0
< BURIED
> reserve-job $d
< RESERVED $d 1
< d
> reserve-job $b
< RESERVED $b 1
< b
> release $d 0 0
< RELEASED
> release $b 0 0
< RELEASED
> stats-tube default
<yaml
| ---
| ...
| current-jobs-ready: 2
| current-jobs-reserved: 0
| current-jobs-delayed: 0
| current-jobs-buried: 0
| ...

=== reserve-job ignores the watch list and tube pauses
> use elsewhere
< USING elsewhere
> put 0 0 60 1
> x
< INSERTED $a
> pause-tube elsewhere 3600
< PAUSED
> reserve-job $a
< RESERVED $a 1
< x
> reserve-job 18446744073709551615
< NOT_FOUND

=== reserve-job makes the connection a worker
> put 0 0 60 1
> x
< INSERTED $a
> reserve-job $a
< RESERVED $a 1
< x
> stats
<yaml
| ---
| ...
| cmd-reserve: 0
| cmd-reserve-with-timeout: 0
| ...
| current-workers: 1
| current-waiting: 0
| ...

=== reserve-job takes buried jobs in any order
@repeat 3
> put 0 0 60 1
> x
< INSERTED $_
@end
> reserve
< RESERVED $a 1
< x
> reserve
< RESERVED $b 1
< x
> reserve
< RESERVED $c 1
< x
> bury $a 0
< BURIED
> bury $b 0
< BURIED
> bury $c 0
< BURIED
> reserve-job $b
< RESERVED $b 1
< x
> reserve-job $c
< RESERVED $c 1
< x
> reserve-job $a
< RESERVED $a 1
< x
> release $b 0 0
< RELEASED
> peek-buried
< NOT_FOUND
> peek-ready
< FOUND $b 1
< x

=== release of a job that does not exist is NOT_FOUND
> release 18446744073709551615 0 0
< NOT_FOUND
> release 1 0 0
< NOT_FOUND
