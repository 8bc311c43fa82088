# stats: all 51 keys in emitted order, formats, what each counter counts.

=== a fresh server: all 51 keys in order
> stats
<yaml
| ---
| current-jobs-urgent: 0
| current-jobs-ready: 0
| current-jobs-reserved: 0
| current-jobs-delayed: 0
| current-jobs-buried: 0
| cmd-put: 0
| cmd-peek: 0
| cmd-peek-ready: 0
| cmd-peek-delayed: 0
| cmd-peek-buried: 0
| cmd-reserve: 0
| cmd-reserve-with-timeout: 0
| cmd-delete: 0
| cmd-release: 0
| cmd-use: 0
| cmd-watch: 0
| cmd-ignore: 0
| cmd-bury: 0
| cmd-kick: 0
| cmd-touch: 0
| cmd-stats: 1
| cmd-stats-job: 0
| cmd-stats-tube: 0
| cmd-list-tubes: 0
| cmd-list-tube-used: 0
| cmd-list-tubes-watched: 0
| cmd-pause-tube: 0
| job-timeouts: 0
| total-jobs: 0
| max-job-size: 65535
| current-tubes: 1
| current-connections: 1
| current-producers: 0
| current-workers: 0
| current-waiting: 0
| total-connections: 1
| pid: *
| version: "1.13"
|1.12 version: "1.12"
| rusage-utime: *.*
| rusage-stime: *.*
| uptime: *
| binlog-oldest-index: 0
| binlog-current-index: 0
| binlog-records-migrated: 0
| binlog-records-written: 0
| binlog-max-size: 10485760
| draining: false
| id: *
| hostname: "*"
|1.12 hostname: *
| os: "*"
|1.12 os: *
| platform: "*"
|1.12 platform: *

=== every command is counted once under its own key
> put 0 0 60 1
> x
< INSERTED $a
> peek $a
< FOUND $a 1
< x
> peek-ready
< FOUND $a 1
< x
> peek-delayed
< NOT_FOUND
> peek-buried
< NOT_FOUND
> reserve
< RESERVED $a 1
< x
> touch $a
< TOUCHED
> release $a 0 0
< RELEASED
> reserve-with-timeout 0
< RESERVED $a 1
< x
> bury $a 0
< BURIED
> kick 1
< KICKED 1
> stats-job $a
<yaml
| ---
| id: $a
| ...
> delete $a
< DELETED
> use t
< USING t
> watch t
< WATCHING 2
> ignore t
< WATCHING 1
> stats-tube t
<yaml
| ---
| name: "t"
|1.12 name: t
| ...
> pause-tube t 0
< PAUSED
> list-tubes
<yaml
| ---
| - default
| - t
> list-tube-used
< USING t
> list-tubes-watched
<yaml
| ---
| - default
> stats
<yaml
| ---
| current-jobs-urgent: 0
| current-jobs-ready: 0
| current-jobs-reserved: 0
| current-jobs-delayed: 0
| current-jobs-buried: 0
| cmd-put: 1
| cmd-peek: 1
| cmd-peek-ready: 1
| cmd-peek-delayed: 1
| cmd-peek-buried: 1
| cmd-reserve: 1
| cmd-reserve-with-timeout: 1
| cmd-delete: 1
| cmd-release: 1
| cmd-use: 1
| cmd-watch: 1
| cmd-ignore: 1
| cmd-bury: 1
| cmd-kick: 1
| cmd-touch: 1
| cmd-stats: 1
| cmd-stats-job: 1
| cmd-stats-tube: 1
| cmd-list-tubes: 1
| cmd-list-tube-used: 1
| cmd-list-tubes-watched: 1
| cmd-pause-tube: 1
| job-timeouts: 0
| total-jobs: 1
| max-job-size: 65535
| current-tubes: 2
| current-connections: 1
| current-producers: 1
| current-workers: 1
| current-waiting: 0
| total-connections: 1
| ...

=== malformed commands are not counted, NOT_FOUND ones are
> delete x
< BAD_FORMAT
> delete 18446744073709551615
< NOT_FOUND
> peek x
< BAD_FORMAT
> reserveX
< BAD_FORMAT
> reserve-with-timeout x
< BAD_FORMAT
<1.12 TIMED_OUT
> use -x
< BAD_FORMAT
> stats-job x
< BAD_FORMAT
> stats-job 18446744073709551615
< NOT_FOUND
> stats-tube -x
< BAD_FORMAT
> stats-tube nosuch
< NOT_FOUND
> kick x
< BAD_FORMAT
> touch 18446744073709551615
< NOT_FOUND
> pause-tube default x
< BAD_FORMAT
> pause-tube -foo 5
< BAD_FORMAT
> pause-tube nosuch 5
< NOT_FOUND
> statsX
< BAD_FORMAT
> stats
<yaml
| ---
| ...
| cmd-peek: 0
| ...
| cmd-reserve: 0
| cmd-reserve-with-timeout: 0
|1.12 cmd-reserve-with-timeout: 1
| cmd-delete: 1
| ...
| cmd-use: 0
| ...
| cmd-kick: 0
| cmd-touch: 1
| cmd-stats: 1
| cmd-stats-job: 1
| cmd-stats-tube: 1
| ...
| cmd-pause-tube: 2
| ...

=== connection counters follow opens and quits
@conn b
> list-tube-used
< USING default
@conn c
> list-tube-used
< USING default
> quit
@eof
@conn main
> stats
<yaml
| ---
| ...
| current-connections: 2
| current-producers: 0
| current-workers: 0
| current-waiting: 0
| total-connections: 3
| ...

=== -z above 1 GiB is clamped to 1073741824
@args -z 2000000000
> stats
<yaml
| ---
| ...
| max-job-size: 1073741824
| ...
