# Dispatch by prefix match, framing of command lines and the generic error replies (notes §1.1).

=== unknown verb, empty line and upper case are UNKNOWN_COMMAND
> frobnicate
< UNKNOWN_COMMAND
>
< UNKNOWN_COMMAND
> PUT 0 0 60 1
< UNKNOWN_COMMAND
> Reserve
< UNKNOWN_COMMAND
> list-tube-used
< USING default

=== verbs that need an argument are UNKNOWN_COMMAND when sent bare
> put
< UNKNOWN_COMMAND
> delete
< UNKNOWN_COMMAND
> use
< UNKNOWN_COMMAND
> watch
< UNKNOWN_COMMAND
> ignore
< UNKNOWN_COMMAND
> kick
< UNKNOWN_COMMAND
> kick-job
< UNKNOWN_COMMAND
> peek
< UNKNOWN_COMMAND
> touch
< UNKNOWN_COMMAND
> bury
< UNKNOWN_COMMAND
> release
< UNKNOWN_COMMAND
> list-tube-used
< USING default

=== verbs glued to their argument without a space are UNKNOWN_COMMAND
> usefoo
< UNKNOWN_COMMAND
> watchfoo
< UNKNOWN_COMMAND
> delete1
< UNKNOWN_COMMAND
> kick-jobX 1
< UNKNOWN_COMMAND
> touchX 1
< UNKNOWN_COMMAND
> put0 0 60 1
< UNKNOWN_COMMAND
> peek1
< UNKNOWN_COMMAND

=== no-argument verbs with junk glued on match the shorter entry and are BAD_FORMAT
> reserveX
< BAD_FORMAT
> reserve\x20
< BAD_FORMAT
> statsfoo
< BAD_FORMAT
> stats\x20
< BAD_FORMAT
> peek-readyX
< BAD_FORMAT
> peek-delayedX
< BAD_FORMAT
> peek-buried\x20
< BAD_FORMAT
> list-tubesX
< BAD_FORMAT
> list-tubes-watched\x20
< BAD_FORMAT
> list-tube-usedX
< BAD_FORMAT
> stats-jobX 1
< BAD_FORMAT
> reserve-jobX 1
< BAD_FORMAT
> list-tube-used
< USING default

=== bare argument verbs that fall back to reserve/stats/pause-tube are BAD_FORMAT
> reserve-with-timeout
< BAD_FORMAT
> reserve-job
< BAD_FORMAT
> stats-job
< BAD_FORMAT
> stats-tube
< BAD_FORMAT
> pause-tube
< BAD_FORMAT
> list-tube-used
< USING default

=== quit closes without a reply
> quit
@eof

=== quit matches as a prefix: quitX closes the connection
> quitX
@eof

=== quit matches as a prefix: "quit " closes the connection
> quit\x20
@eof

=== commands pipelined after quit are never answered
>> list-tube-used\r\nquit\r\nlist-tube-used\r\n
< USING default
@eof

=== pause-tube has no trailing space in its table entry
> pause-tubedefault 0
< PAUSED
> pause-tube  default  0
< PAUSED
> pause-tube default
< BAD_FORMAT
> pause-tube default 0\x20
< BAD_FORMAT

=== pipelined commands in one write are answered in order
>> use p1\r\nuse p2\r\nput 0 0 60 1\r\nx\r\nlist-tube-used\r\nwatch p1\r\n
< USING p1
< USING p2
< INSERTED $a
< USING p2
< WATCHING 2

=== a command line may arrive in pieces
>> us
>> e fo
>> o\r
>> \n
< USING foo
>> put 0 0 60 3\r
>> \nab
>> c\r
>> \n
< INSERTED $a

=== a NUL byte anywhere in a line is BAD_FORMAT
> use a\x00b
< BAD_FORMAT
> list-tube-used\x00
< BAD_FORMAT
> \x00
< BAD_FORMAT
> list-tube-used
< USING default

=== a bare LF does not end a line
>> use a\nuse b\r\n
< BAD_FORMAT
>> list-tube-used\n\r\n
< BAD_FORMAT
> list-tube-used
< USING default
