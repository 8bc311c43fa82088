# stats-job: every key in emitted order, counters across the job's life, large ttrs.

=== a reserved job: every key in order, then after release and a second reserve
> put 3 0 120 2
> hi
< INSERTED $a
> reserve
< RESERVED $a 2
< hi
> stats-job $a
<yaml
| ---
| id: $a
| tube: "default"
|1.12 tube: default
| state: reserved
| pri: 3
| age: *
| delay: 0
| ttr: 120
| time-left: *
| file: 0
| reserves: 1
| timeouts: 0
| releases: 0
| buries: 0
| kicks: 0
> release $a 9 0
< RELEASED
> reserve
< RESERVED $a 2
< hi
> release $a 9 3600
< RELEASED
> stats-job $a
<yaml
| ---
| id: $a
| tube: "default"
|1.12 tube: default
| state: delayed
| pri: 9
| age: *
| delay: 3600
| ttr: 120
| time-left: *
| file: 0
| reserves: 2
| timeouts: 0
| releases: 2
| buries: 0
| kicks: 0

=== a deleted job is NOT_FOUND
> put 0 0 60 1
> x
< INSERTED $a
> delete $a
< DELETED
> stats-job $a
< NOT_FOUND

=== large ttrs are reported exactly (around the 2^32 ns boundary too)
> put 0 0 120 0
>
< INSERTED $a
> put 0 0 4294 0
>
< INSERTED $b
> put 0 0 4295 0
>
< INSERTED $c
> put 0 0 4296 0
>
< INSERTED $d
> put 0 0 4297 0
>
< INSERTED $e
> put 0 0 21600 0
>
< INSERTED $f
> stats-job $a
<yaml
| ---
| ...
| ttr: 120
| ...
> stats-job $b
<yaml
| ---
| ...
| ttr: 4294
| ...
> stats-job $c
<yaml
| ---
| ...
| ttr: 4295
| ...
> stats-job $d
<yaml
| ---
| ...
| ttr: 4296
| ...
> stats-job $e
<yaml
| ---
| ...
| ttr: 4297
| ...
> stats-job $f
<yaml
| ---
| ...
| ttr: 21600
| ...
