# stats-tube: every key in emitted order and what it counts.

=== a fresh default tube: every key in order
> stats-tube default
<yaml
| ---
| name: "default"
|1.12 name: default
| current-jobs-urgent: 0
| current-jobs-ready: 0
| current-jobs-reserved: 0
| current-jobs-delayed: 0
| current-jobs-buried: 0
| total-jobs: 0
| current-using: 1
| current-watching: 1
| current-waiting: 0
| cmd-delete: 0
| cmd-pause-tube: 0
| pause: 0
| pause-time-left: 0

=== counts jobs by state, users, watchers and deletes
> use tubea
< USING tubea
> watch tubea
< WATCHING 2
> put 1 0 60 1
> u
< INSERTED $u
> put 2000 0 60 1
> r
< INSERTED $r
> put 0 3600 60 1
> d
< INSERTED $d
> put 0 0 60 1
> b
< INSERTED $b
> put 0 0 60 1
> x
< INSERTED $x
> reserve-job $b
< RESERVED $b 1
< b
> bury $b 0
< BURIED
> reserve-job $x
< RESERVED $x 1
< x
> put 0 0 60 1
> z
< INSERTED $z
> delete $z
< DELETED
@conn other
> use tubea
< USING tubea
@conn main
> stats-tube tubea
<yaml
| ---
| name: "tubea"
|1.12 name: tubea
| current-jobs-urgent: 1
| current-jobs-ready: 2
| current-jobs-reserved: 1
| current-jobs-delayed: 1
| current-jobs-buried: 1
| total-jobs: 6
| current-using: 2
| current-watching: 1
| current-waiting: 0
| cmd-delete: 1
| cmd-pause-tube: 0
| pause: 0
| pause-time-left: 0
