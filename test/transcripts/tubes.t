# use/watch/ignore, tube names, list-tubes/-watched/list-tube-used and tube garbage collection
# (a tube lives while a job, a user or a watcher refers to it; default lives forever).

=== a fresh connection uses and watches default
> list-tubes
< OK 14
< ---\n- default\n
> list-tubes-watched
< OK 14
< ---\n- default\n
> list-tube-used
< USING default

=== use and watch create tubes, listed in creation order
> use t1
< USING t1
> watch t2
< WATCHING 2
> watch t2
< WATCHING 2
> list-tubes
< OK 24
< ---\n- default\n- t1\n- t2\n
> list-tubes-watched
< OK 19
< ---\n- default\n- t2\n
> list-tube-used
< USING t1

=== ignore answers the remaining count; the last watched tube cannot be ignored
> watch t
< WATCHING 2
> ignore default
< WATCHING 1
> ignore t
< NOT_IGNORED
> list-tubes-watched
< OK 8
< ---\n- t\n
> ignore never-seen
< WATCHING 1
> use used
< USING used
> ignore used
< WATCHING 1
> list-tubes
<yaml
| ---
| - default
| - t
| - used
> stats
<yaml
| ---
| ...
| cmd-use: 1
| cmd-watch: 1
| cmd-ignore: 4
| ...

=== a connection watching only default cannot ignore it
> ignore default
< NOT_IGNORED
> ignore missing
< WATCHING 1

=== tube names may use letters, digits and - + / ; . \$ _ ( )
> watch a\$b_c(d)+e/f;g.h
< WATCHING 2
> use (.\$;+/_)
< USING (.\$;+/_)
> use 123
< USING 123
> use x_y
< USING x_y
> use a-b
< USING a-b
> watch A.Z
< WATCHING 3
> stats-tube a\$b_c(d)+e/f;g.h
<yaml
| ---
| name: "a\$b_c(d)+e/f;g.h"
|1.12 name: a\$b_c(d)+e/f;g.h
| ...

=== tube names: a leading '-' and other characters are BAD_FORMAT
> use -foo
< BAD_FORMAT
> watch -foo
< BAD_FORMAT
> ignore -foo
< BAD_FORMAT
> stats-tube -foo
< BAD_FORMAT
> use a*b
< BAD_FORMAT
> use a b
< BAD_FORMAT
> use a#b
< BAD_FORMAT
> use a:b
< BAD_FORMAT
> use \xe9
< BAD_FORMAT
> list-tube-used
< USING default

=== tube names: 200 bytes are fine, 201 are BAD_FORMAT
> use \[200*n]
< USING \[200*n]
> watch \[200*n]
< WATCHING 2
> use \[200*n]x
< BAD_FORMAT
> watch \[200*n]x
< BAD_FORMAT
> ignore \[200*n]x
< BAD_FORMAT
> stats-tube \[200*n]x
< BAD_FORMAT
> list-tube-used
< USING \[200*n]

=== the whole rest of the line must be the name: extra spaces are BAD_FORMAT
> use  foo
< BAD_FORMAT
> use foo\x20
< BAD_FORMAT
> use foo bar
< BAD_FORMAT
> watch  foo
< BAD_FORMAT
> watch foo\x20
< BAD_FORMAT
> ignore foo\x20
< BAD_FORMAT
> stats-tube default\x20
< BAD_FORMAT
> stats-tube  default
< BAD_FORMAT
> list-tubes
<yaml
| ---
| - default

=== an unused tube disappears, taking its counters with it
> use t
< USING t
> put 0 0 60 1
> x
< INSERTED $a
> delete $a
< DELETED
> stats-tube t
<yaml
| ---
| name: "t"
|1.12 name: t
| ...
| cmd-delete: 1
| ...
> use default
< USING default
> stats-tube t
< NOT_FOUND
> list-tubes
<yaml
| ---
| - default
> use t
< USING t
> stats-tube t
<yaml
| ---
| ...
| cmd-delete: 0
| ...

=== jobs keep their tube alive until the last one is deleted
> use t
< USING t
> put 0 0 60 1
> x
< INSERTED $a
> use default
< USING default
> stats-tube t
<yaml
| ---
| name: "t"
|1.12 name: t
| current-jobs-urgent: 1
| current-jobs-ready: 1
| ...
| current-using: 0
| current-watching: 0
| ...
> delete $a
< DELETED
> stats-tube t
< NOT_FOUND

=== another connection's watch keeps a tube alive
@conn watcher
> watch shared
< WATCHING 2
@conn main
> use shared
< USING shared
> use default
< USING default
> list-tubes
<yaml
| ---
| - default
| - shared
@conn watcher
> ignore shared
< WATCHING 1
> list-tubes
<yaml
| ---
| - default

=== default survives even when nobody uses or watches it
> use other
< USING other
> watch other
< WATCHING 2
> ignore default
< WATCHING 1
> list-tubes
<yaml
| ---
| - default
| - other
> stats-tube default
<yaml
| ---
| ...
| current-using: 0
| current-watching: 0
| ...

=== list-tubes: a removed tube's slot is taken by the last tube
> watch t_a
< WATCHING 2
> watch t_b
< WATCHING 3
> watch t_c
< WATCHING 4
> watch t_d
< WATCHING 5
> list-tubes
< OK 38
< ---\n- default\n- t_a\n- t_b\n- t_c\n- t_d\n
> ignore t_a
< WATCHING 4
> list-tubes
< OK 32
< ---\n- default\n- t_d\n- t_b\n- t_c\n
> list-tubes-watched
< OK 32
< ---\n- default\n- t_d\n- t_b\n- t_c\n

=== list-tubes-watched: ignoring a tube moves the last watched tube into its slot
> watch t_b
< WATCHING 2
> watch t_c
< WATCHING 3
> watch t_d
< WATCHING 4
> ignore default
< WATCHING 3
> list-tubes-watched
<yaml
| ---
| - t_d
| - t_b
| - t_c
> watch default
< WATCHING 4
> list-tubes-watched
<yaml
| ---
| - t_d
| - t_b
| - t_c
| - default
