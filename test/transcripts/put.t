# put: bodies, size limits, EXPECTED_CRLF, ttr floor, delayed puts and what put counts.

=== put, reserve and delete a job
> put 0 0 60 5
> hello
< INSERTED $a
> reserve
< RESERVED $a 5
< hello
> delete $a
< DELETED
> delete $a
< NOT_FOUND

=== bodies are opaque bytes: CRLF, NUL and high bytes come back exactly
>> put 0 0 60 8\r\na\r\nb\x00\xff\r\n\r\n
< INSERTED $a
> reserve
< RESERVED $a 8
< a\r\nb\x00\xff\r\n

=== a zero-byte body is fine
> put 0 0 60 0
>
< INSERTED $a
> peek $a
< FOUND $a 0
<

=== a body may arrive in pieces
>> put 0 0 60 10\r\n01
>> 2345
>> 6789\r
>> \n
< INSERTED $a
> peek $a
< FOUND $a 10
< 0123456789

=== EXPECTED_CRLF consumes exactly bytes+2 and parses what follows
>> put 0 0 60 1\r\nabc\r\n
< EXPECTED_CRLF
< UNKNOWN_COMMAND
>> put 0 0 60 3\r\nabcdelist-tube-used\r\n
< EXPECTED_CRLF
< USING default
> peek-ready
< NOT_FOUND

=== EXPECTED_CRLF burns a job id
@requires single-server
>> put 0 0 60 1\r\nxyz
< EXPECTED_CRLF
> put 0 0 60 1
> x
< INSERTED 2

=== 65535 bytes is the default limit
> put 0 0 60 65535
> \[65535*x]
< INSERTED $a
> reserve
< RESERVED $a 65535
< \[65535*x]
> put 0 0 60 65536
>> \[65536*y]\r\n
< JOB_TOO_BIG
> list-tube-used
< USING default

=== -z raises the limit
@args -z 65536
> put 0 0 60 65536
> \[65536*x]
< INSERTED $a
> peek $a
< FOUND $a 65536
< \[65536*x]

=== JOB_TOO_BIG discards exactly bytes+2, whatever they are
@args -z 10
> put 0 0 0 11
> delete 9999
< JOB_TOO_BIG
> put 0 0 0 10
> 0123456789
< INSERTED $a
>> put 0 0 0 11\r\n0123456789abclist-tube-used\r\n
< JOB_TOO_BIG
< USING default

=== JOB_TOO_BIG is only sent once the whole body has arrived
@args -z 10
>> put 0 0 0 11\r\n01234
>> 56789a\r
>> \nlist-tube-used\r\n
< JOB_TOO_BIG
< USING default

=== JOB_TOO_BIG takes precedence over garbage after the size
@args -z 10
> put 0 0 0 11 garbage
> use discard
< JOB_TOO_BIG
> put 0 0 0 5 garbage
< BAD_FORMAT
> list-tube-used
< USING default

=== JOB_TOO_BIG counts in cmd-put but not total-jobs, and makes no producer
@args -z 10
> put 0 0 0 11
> 0123456789a
< JOB_TOO_BIG
> put 0 0 0 11 junk
> 0123456789a
< JOB_TOO_BIG
> stats
<yaml
| ---
| ...
| cmd-put: 2
| ...
| total-jobs: 0
| max-job-size: 10
| current-tubes: 1
| current-connections: 1
| current-producers: 0
| ...

=== cmd-put counts every parsed put, total-jobs only inserted ones
>> put 0 0 60 1\r\nxyz
< EXPECTED_CRLF
> put 0 0 60 1 junk
< BAD_FORMAT
> put 0 0 60 x
< BAD_FORMAT
> put 0 0 60 1
> x
< INSERTED $a
> stats
<yaml
| ---
| ...
| cmd-put: 3
| ...
| total-jobs: 1
| ...
| current-producers: 1
| ...

=== ttr 0 is raised to 1 second
> put 0 0 0 1
> x
< INSERTED $a
> stats-job $a
<yaml
| ---
| id: $a
| tube: "default"
|1.12 tube: default
| state: ready
| pri: 0
| age: *
| delay: 0
| ttr: 1
| time-left: 0
| file: 0
| reserves: 0
| timeouts: 0
| releases: 0
| buries: 0
| kicks: 0

=== a put with a delay makes a delayed job
> put 7 30 60 1
> x
< INSERTED $a
> peek-ready
< NOT_FOUND
> peek-delayed
< FOUND $a 1
< x
> stats-job $a
<yaml
| ---
| id: $a
| tube: "default"
|1.12 tube: default
| state: delayed
| pri: 7
| age: *
| delay: 30
| ttr: 60
| time-left: *
| ...
> put 0 0 60 1
> y
< INSERTED $b
> reserve
< RESERVED $b 1
< y

=== urgent means ready with pri below 1024
> put 1023 0 60 1
> a
< INSERTED $a
> put 1024 0 60 1
> b
< INSERTED $b
> put 0 10 60 1
> c
< INSERTED $c
> stats
<yaml
| ---
| current-jobs-urgent: 1
| current-jobs-ready: 2
| current-jobs-reserved: 0
| current-jobs-delayed: 1
| current-jobs-buried: 0
| ...
