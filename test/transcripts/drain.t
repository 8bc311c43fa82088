# Drain mode (beanstalkd: SIGUSR1): put is refused with DRAINING once its body has been read;
# everything else goes on. (The reference target polls stats on a connection of its own to see
# the signal land, so these cases do not check connection counters.)

=== put answers DRAINING after its body; other commands keep working
> put 0 0 60 1
> a
< INSERTED $a
@drain
> put 0 0 60 5
> hello
< DRAINING
> list-tube-used
< USING default
> reserve
< RESERVED $a 1
< a
> delete $a
< DELETED
> stats
<yaml
| ---
| ...
| cmd-put: 2
| ...
| total-jobs: 1
| ...
| draining: true
| ...

=== the DRAINING reply comes only after the whole body
@drain
>> put 0 0 60 5\r\nhel
>> lo\r\nlist-tube-used\r\n
< DRAINING
< USING default

=== JOB_TOO_BIG takes precedence over DRAINING
@args -z 10
@drain
> put 0 0 60 11
> 0123456789a
< JOB_TOO_BIG
> list-tube-used
< USING default

=== EXPECTED_CRLF takes precedence over DRAINING
@drain
>> put 0 0 60 1\r\nxyz
< EXPECTED_CRLF
> list-tube-used
< USING default

=== a malformed put is BAD_FORMAT while draining
@drain
> put 0 0 60 1 x
< BAD_FORMAT
> y
< UNKNOWN_COMMAND

=== a waiting reserve is still served while draining
@conn worker
> reserve
@conn main
> put 0 0 60 1
> x
< INSERTED $a
@conn worker
< RESERVED $a 1
< x
@conn main
@drain
> put 0 0 60 1
> y
< DRAINING
