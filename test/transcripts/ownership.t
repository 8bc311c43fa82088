# Who may act on a job: a reserved job belongs to the connection that reserved it; ready,
# delayed and buried jobs can be deleted (and kicked) by anyone.

=== another connection's reserved job is NOT_FOUND for every job command
@conn owner
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@conn other
> delete $a
< NOT_FOUND
> release $a 0 0
< NOT_FOUND
> bury $a 0
< NOT_FOUND
> touch $a
< NOT_FOUND
> reserve-job $a
< NOT_FOUND
> kick-job $a
< NOT_FOUND
> peek $a
< FOUND $a 1
< x
@conn owner
> touch $a
< TOUCHED
> delete $a
< DELETED

=== release, bury and touch need a reservation even on one's own put
> put 0 0 60 1
> x
< INSERTED $a
> release $a 0 0
< NOT_FOUND
> bury $a 0
< NOT_FOUND
> touch $a
< NOT_FOUND
> put 0 3600 60 1
> d
< INSERTED $d
> release $d 0 0
< NOT_FOUND
> bury $d 0
< NOT_FOUND
> touch $d
< NOT_FOUND

=== ready, delayed and buried jobs can be deleted by any connection
@conn producer
> put 0 0 60 1
> r
< INSERTED $r
> put 0 3600 60 1
> d
< INSERTED $d
> put 0 0 60 1
> b
< INSERTED $b
> reserve-job $b
< RESERVED $b 1
< b
> bury $b 0
< BURIED
@conn other
> delete $r
< DELETED
> delete $d
< DELETED
> delete $b
< DELETED
> stats-tube default
<yaml
| ---
| ...
| cmd-delete: 3
| ...

=== buried and delayed jobs can be kicked by any connection
@conn producer
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
@conn other
> kick-job $b
< KICKED
> kick-job $d
< KICKED
> reserve
< RESERVED $d 1
< d
> reserve
< RESERVED $b 1
< b

=== a released job can be taken by another connection
@conn owner
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@conn other
> reserve-job $a
< NOT_FOUND
@conn owner
> release $a 0 0
< RELEASED
> release $a 0 0
< NOT_FOUND
@conn other
> reserve-job $a
< RESERVED $a 1
< x
@conn owner
> delete $a
< NOT_FOUND
@conn other
> delete $a
< DELETED

=== a failed delete still counts in cmd-delete, but not in the tube's
@conn owner
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
@conn other
> delete $a
< NOT_FOUND
> stats
<yaml
| ---
| ...
| cmd-delete: 1
| ...
> stats-tube default
<yaml
| ---
| ...
| cmd-delete: 0
| ...
