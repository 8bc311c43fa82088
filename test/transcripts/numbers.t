# Integer fields: u32 (pri, delay, ttr, bytes) and u64 (ids) readers — leading spaces skipped,
# first byte must be a digit, overflow fails, and the last field allows nothing after its digits.

=== ids: leading spaces and zeros are fine, a trailing space is not
> put 0 0 60 1
> x
< INSERTED $a
> peek  $a
< FOUND $a 1
< x
> peek 000$a
< FOUND $a 1
< x
> peek $a\x20
< BAD_FORMAT
> delete $a\x20
< BAD_FORMAT
> delete  $a
< DELETED

=== ids: sign, hex, letters and u64 overflow are BAD_FORMAT
> peek +1
< BAD_FORMAT
> peek -1
< BAD_FORMAT
> peek 0x10
< BAD_FORMAT
> peek foo111
< BAD_FORMAT
> peek 111foo
< BAD_FORMAT
> peek 18446744073709551616
< BAD_FORMAT
> peek 99999999999999999999999999
< BAD_FORMAT
> delete 18446744073709551616
< BAD_FORMAT
> delete x
< BAD_FORMAT
> touch x
< BAD_FORMAT
> touch 1a
< BAD_FORMAT
> kick-job x
< BAD_FORMAT
> kick-job 1\x20
< BAD_FORMAT
> reserve-job x
< BAD_FORMAT
> stats-job 111ABC
< BAD_FORMAT
> stats-job 111 222
< BAD_FORMAT

=== ids: u64 max and 0 parse and are simply NOT_FOUND
> peek 18446744073709551615
< NOT_FOUND
> peek 0
< NOT_FOUND
> delete 18446744073709551615
< NOT_FOUND
> touch 0
< NOT_FOUND
> kick-job 18446744073709551615
< NOT_FOUND
> stats-job 18446744073709551615
< NOT_FOUND
> reserve-job 0
< NOT_FOUND

=== put: priority 4294967295 is accepted, 4294967296 is not
> put 4294967295 0 60 1
> x
< INSERTED $a
> put 4294967296 0 60 1
< BAD_FORMAT
> stats-job $a
<yaml
| ---
| id: $a
| tube: "default"
|1.12 tube: default
| state: ready
| pri: 4294967295
| ...

=== put: malformed numbers are BAD_FORMAT and the body is then read as a command
> put -1 0 60 1
< BAD_FORMAT
> put -1kkdjfkljdfk 0 60 1
< BAD_FORMAT
> put +1 0 60 1
< BAD_FORMAT
> put 0x10 0 60 1
< BAD_FORMAT
> put 0 -1 60 1
< BAD_FORMAT
> put 0 4294967296 60 1
< BAD_FORMAT
> put 0 0 -1 1
< BAD_FORMAT
> put 0 0 60 4294967296
< BAD_FORMAT
> put 0 0 60 10b
< BAD_FORMAT
> put 0 0 60 -1
< BAD_FORMAT
> put 0 0 60
< BAD_FORMAT
> put 0 0 60 1\x20
< BAD_FORMAT
> x
< UNKNOWN_COMMAND
> put 0 0 60 1 garbage
< BAD_FORMAT
> x
< UNKNOWN_COMMAND
> list-tube-used
< USING default

=== put: a malformed put with a body that is a command runs that command
>> put 0 0 60 16 \r\nuse inside-body\r\n
< BAD_FORMAT
< USING inside-body

=== put: leading zeros and extra spaces between fields are accepted
> put 00 0 0 01
> x
< INSERTED $a
> put  0  0  60  1
> y
< INSERTED $b
> put 0 00000000000000000000000000005 4294967295 1
> z
< INSERTED $c
> stats-job $c
<yaml
| ---
| id: $c
| ...
| state: delayed
| pri: 0
| age: *
| delay: 5
| ttr: 4294967295
| ...

=== release: malformed arguments are BAD_FORMAT
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> release 18446744073709551616 0 0
< BAD_FORMAT
> release $a
< BAD_FORMAT
> release $a 0
< BAD_FORMAT
> release $a -1 0
< BAD_FORMAT
> release $a 4294967296 0
< BAD_FORMAT
> release $a 0 -1
< BAD_FORMAT
> release $a 0 x
< BAD_FORMAT
> release $a 0 0\x20
< BAD_FORMAT
> release $a 0 0
< RELEASED

=== bury: malformed arguments are BAD_FORMAT
> put 0 0 60 1
> x
< INSERTED $a
> reserve
< RESERVED $a 1
< x
> bury x 0
< BAD_FORMAT
> bury $a
< BAD_FORMAT
> bury $a -1
< BAD_FORMAT
> bury $a x
< BAD_FORMAT
> bury $a 4294967296
< BAD_FORMAT
> bury $a 0\x20
< BAD_FORMAT
> bury $a 0
< BURIED

=== reserve-with-timeout: 1.13 rejects a non-digit start, 1.12 reads it as 0
> reserve-with-timeout abc
< BAD_FORMAT
<1.12 TIMED_OUT
> reserve-with-timeout -1
@if 1.12
# 1.12 reads -1 as "wait forever": give it a job from another connection.
@conn other
> put 0 0 60 1
> x
< INSERTED $a
@conn main
< RESERVED $a 1
< x
@else
< BAD_FORMAT
@end
> reserve-with-timeout 0x
< TIMED_OUT
> list-tube-used
< USING default

=== reserve-with-timeout: numbers over 2147483647 are BAD_FORMAT in 1.13
> put 0 0 60 1
> x
< INSERTED $a
> reserve-with-timeout 2147483648
< BAD_FORMAT
<1.12 RESERVED $a 1
@if 1.12
< x
> release $a 0 0
< RELEASED
@end
> reserve-with-timeout 4294967296
< BAD_FORMAT
<1.12 RESERVED $a 1
@if 1.12
< x
> release $a 0 0
< RELEASED
@end
> reserve-with-timeout +1
< BAD_FORMAT
<1.12 RESERVED $a 1
@if 1.12
< x
> release $a 0 0
< RELEASED
@end
> reserve-with-timeout 2147483647
< RESERVED $a 1
< x

=== reserve-with-timeout: 1.12 keeps the low 32 bits of a C long and waits forever when negative
> reserve-with-timeout 4294967296
< BAD_FORMAT
<1.12 TIMED_OUT
> reserve-with-timeout -9223372036854775808
< BAD_FORMAT
<1.12 TIMED_OUT
> reserve-with-timeout 9223372036854775808
< BAD_FORMAT
> reserve-with-timeout -9223372036854775809
< BAD_FORMAT
> reserve-with-timeout 000000000000000000000000000004294967296
< BAD_FORMAT
<1.12 TIMED_OUT
> reserve-with-timeout\x20
< BAD_FORMAT
<1.12 TIMED_OUT
> reserve-with-timeout -
< BAD_FORMAT
<1.12 TIMED_OUT
> reserve-with-timeout 9223372036854775807
@if 1.12
# The long's low 32 bits are all ones: -1 as an int, a wait with no timeout.
@conn other
> put 0 0 60 1
> x
< INSERTED $a
@conn main
< RESERVED $a 1
< x
> delete $a
< DELETED
@else
< BAD_FORMAT
@end
> reserve-with-timeout \t-0
< BAD_FORMAT
<1.12 TIMED_OUT
> list-tube-used
< USING default

=== reserve-with-timeout: junk after the digits and extra leading spaces are ignored
> put 0 0 60 1
> x
< INSERTED $a
> reserve-with-timeout 5abc
< RESERVED $a 1
< x
> release $a 0 0
< RELEASED
> reserve-with-timeout   7 8
< RESERVED $a 1
< x
> reserve-with-timeout 0\x20
< TIMED_OUT
