# kick (used tube only, buried before delayed, odd bound parsing) and kick-job.

=== kick prefers buried jobs and kicks delayed ones only when none are buried
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
> kick 10
< KICKED 1
> peek-buried
< NOT_FOUND
> peek-delayed
< FOUND $d 1
< d
> kick 10
< KICKED 1
> peek-delayed
< NOT_FOUND
> kick 10
< KICKED 0
> stats-tube default
<yaml
| ---
| ...
| current-jobs-ready: 2
| ...

=== kick takes the oldest buried job first, up to the bound
> put 0 0 60 1
> 1
< INSERTED $a
> put 0 0 60 1
> 2
< INSERTED $b
> put 0 0 60 1
> 3
< INSERTED $c
> reserve-job $b
< RESERVED $b 1
< 2
> bury $b 0
< BURIED
> reserve-job $a
< RESERVED $a 1
< 1
> bury $a 0
< BURIED
> reserve-job $c
< RESERVED $c 1
< 3
> bury $c 0
< BURIED
> peek-buried
< FOUND $b 1
< 2
> kick 2
< KICKED 2
> peek-buried
< FOUND $c 1
< 3
> peek-ready
< FOUND $a 1
< 1
> kick 1
< KICKED 1
> kick 1
< KICKED 0

=== kick takes the soonest delayed job first
> put 0 3000 60 1
> a
< INSERTED $a
> put 0 2000 60 1
> b
< INSERTED $b
> put 0 4000 60 1
> c
< INSERTED $c
> kick 1
< KICKED 1
> peek-ready
< FOUND $b 1
< b
> peek-delayed
< FOUND $a 1
< a
> kick 5
< KICKED 2

=== kick only looks at the used tube
> use t
< USING t
> put 0 0 60 1
> x
< INSERTED $a
> use default
< USING default
> watch t
< WATCHING 2
> reserve
< RESERVED $a 1
< x
> bury $a 0
< BURIED
> kick 10
< KICKED 0
> use t
< USING t
> kick 10
< KICKED 1

=== kick bound parsing: -1 is all, 2^32 is 0, junk after the digits is ignored
@repeat 12
> put 0 100 60 0
>
< INSERTED $_
@end
> kick 4294967296
< KICKED 0
> kick 5abc
< KICKED 5
> kick  1\x20
< KICKED 1
> kick abc
< BAD_FORMAT
> kick -1
< KICKED 6
> kick 3
< KICKED 0
> stats
<yaml
| ---
| ...
| cmd-kick: 5
| ...

=== kick-job kicks one buried or delayed job, in any tube
> use elsewhere
< USING elsewhere
> put 0 0 60 1
> b
< INSERTED $b
> put 0 3600 60 1
> d
< INSERTED $d
> reserve-job $b
< RESERVED $b 1
< b
> bury $b 0
< BURIED
> use default
< USING default
> kick-job $b
< KICKED
> kick-job $b
< NOT_FOUND
> kick-job $d
< KICKED
> kick-job $d
< NOT_FOUND
> stats-job $d
<yaml
| ---
| id: $d
| tube: "elsewhere"
|1.12 tube: elsewhere
| state: ready
| ...
| kicks: 1
> stats
<yaml
| ---
| ...
| cmd-kick: 0
| ...

=== kick-job on ready, reserved or missing jobs is NOT_FOUND
> put 0 0 60 1
> r
< INSERTED $r
> kick-job $r
< NOT_FOUND
> reserve
< RESERVED $r 1
< r
> kick-job $r
< NOT_FOUND
> kick-job 18446744073709551615
< NOT_FOUND

=== bury needs a reservation, peek-buried shows the buried job, kick returns it to ready
> put 0 0 60 1
> x
< INSERTED $a
> bury $a 0
< NOT_FOUND
> reserve
< RESERVED $a 1
< x
> bury $a 7
< BURIED
> peek-buried
< FOUND $a 1
< x
> stats-job $a
<yaml
| ---
| id: $a
| tube: "default"
|1.12 tube: default
| state: buried
| pri: 7
| age: *
| delay: 0
| ttr: 60
| time-left: 0
| file: 0
| reserves: 1
| timeouts: 0
| releases: 0
| buries: 1
| kicks: 0
> kick 1
< KICKED 1
> peek-buried
< NOT_FOUND
> peek-ready
< FOUND $a 1
< x
> kick 1
< KICKED 0
> stats-job $a
<yaml
| ---
| id: $a
| ...
| state: ready
| pri: 7
| ...
| buries: 1
| kicks: 1
