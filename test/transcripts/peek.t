# peek by id (any tube, any state) and peek-ready/-delayed/-buried (used tube only).

=== peek 1 on a fresh server finds the first job
@requires single-server
> put 0 0 60 5
> hello
< INSERTED 1
> peek 1
< FOUND 1 5
< hello
> peek 2
< NOT_FOUND

=== peek finds a job in any tube and any state
> use hidden
< USING hidden
> put 0 0 60 1
> r
< INSERTED $r
> put 0 3600 60 1
> d
< INSERTED $d
> put 0 0 60 1
> b
< INSERTED $b
> use default
< USING default
> watch hidden
< WATCHING 2
> reserve-job $b
< RESERVED $b 1
< b
> bury $b 0
< BURIED
> reserve-job $r
< RESERVED $r 1
< r
> ignore hidden
< WATCHING 1
> peek $r
< FOUND $r 1
< r
> peek $d
< FOUND $d 1
< d
> peek $b
< FOUND $b 1
< b
> stats-job $r
<yaml
| ---
| id: $r
| tube: "hidden"
|1.12 tube: hidden
| state: reserved
| ...

=== peek-ready/-delayed/-buried find nothing in an empty tube
> peek-ready
< NOT_FOUND
> peek-delayed
< NOT_FOUND
> peek-buried
< NOT_FOUND

=== peek-ready looks at the used tube, not the watched ones
> use t
< USING t
> put 0 0 60 1
> x
< INSERTED $a
> use default
< USING default
> watch t
< WATCHING 2
> peek-ready
< NOT_FOUND
> use t
< USING t
> peek-ready
< FOUND $a 1
< x

=== peek-ready shows the job reserve would take: lowest priority, then lowest id
> put 5 0 60 1
> a
< INSERTED $a
> put 3 0 60 1
> b
< INSERTED $b
> put 3 0 60 1
> c
< INSERTED $c
> peek-ready
< FOUND $b 1
< b
> delete $b
< DELETED
> peek-ready
< FOUND $c 1
< c

=== peek-delayed shows the soonest deadline and follows deletes
> put 0 20 60 1
> a
< INSERTED $a
> put 0 10 60 1
> b
< INSERTED $b
> put 0 30 60 1
> c
< INSERTED $c
> peek-delayed
< FOUND $b 1
< b
> delete $b
< DELETED
> peek-delayed
< FOUND $a 1
< a
> delete $a
< DELETED
> peek-delayed
< FOUND $c 1
< c
> delete $c
< DELETED
> peek-delayed
< NOT_FOUND

=== peek-buried shows the oldest buried job
> put 0 0 60 1
> a
< INSERTED $a
> put 0 0 60 1
> b
< INSERTED $b
> reserve-job $b
< RESERVED $b 1
< b
> bury $b 0
< BURIED
> reserve-job $a
< RESERVED $a 1
< a
> bury $a 0
< BURIED
> peek-buried
< FOUND $b 1
< b
> delete $b
< DELETED
> peek-buried
< FOUND $a 1
< a

=== peeking changes nothing and only peek <id> counts as cmd-peek
> put 0 0 60 1
> x
< INSERTED $a
> peek $a
< FOUND $a 1
< x
> peek 18446744073709551615
< NOT_FOUND
> peek-ready
< FOUND $a 1
< x
> peek-delayed
< NOT_FOUND
> peek-buried
< NOT_FOUND
> peek-buried
< NOT_FOUND
> stats-job $a
<yaml
| ---
| id: $a
| ...
| state: ready
| ...
| reserves: 0
| ...
> stats
<yaml
| ---
| ...
| cmd-peek: 2
| cmd-peek-ready: 1
| cmd-peek-delayed: 1
| cmd-peek-buried: 2
| ...
