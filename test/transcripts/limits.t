# Command-line length limit (224 bytes including CRLF: 11 + 201 + 12 for the longest pause-tube
# line) and big pipelined bursts. beanstalkd looks for a line end only at the first CR of its
# 224-byte window; the last two cases pin down what that means for a stray CR and for a line
# whose CR is the 224th byte.

=== the longest valid line, 224 bytes, is accepted
> watch \[200*n]
< WATCHING 2
> pause-tube \[200*n] 4294967295
< PAUSED

=== a 226-byte line is BAD_FORMAT and the connection stays in sync
> \[224*a]
< BAD_FORMAT
> list-tube-used
< USING default

=== a 230-byte line is BAD_FORMAT and the connection stays in sync
> use \[226*a]
< BAD_FORMAT
> use ok
< USING ok

=== a 500-byte line is BAD_FORMAT and the next put works
> \[500*x]
< BAD_FORMAT
> put 0 0 60 1
> x
< INSERTED $a

=== a 5000-byte line is BAD_FORMAT and the connection stays in sync
> \[5000*a]
< BAD_FORMAT
> put 0 0 60 1
> x
< INSERTED $a

=== a long line sent in pieces is BAD_FORMAT once its CRLF arrives
>> \[300*b]
>> \[300*c]
>> \[100*d]\r
>> \nlist-tube-used\r\n
< BAD_FORMAT
< USING default

=== a too-long put line is BAD_FORMAT and its body is read as a command
> put \[250*0]1 0 60 1
< BAD_FORMAT
> x
< UNKNOWN_COMMAND

=== commands after a too-long line in the same write are answered
>> use \[400*z]\r\nuse a\r\nlist-tube-used\r\n
< BAD_FORMAT
< USING a
< USING a

=== a thousand pipelined commands in one write
>> \[1000*list-tube-used\r\n]
<< \[1000*USING default\r\n]
> stats
<yaml
| ---
| ...
| cmd-list-tube-used: 1000
| ...

=== a hundred pipelined puts in one write
>> \[100*put 0 0 60 3\r\nabc\r\n]list-tube-used\r\n
@repeat 100
< INSERTED $_
@end
< USING default

=== a CR not followed by LF hides later line ends until 224 bytes have arrived
>> use a\rb\r\nlist-tube-used\r\n
>> \[300*x]\r\nlist-tube-used\r\n
< BAD_FORMAT
< USING default

=== a 225-byte line loses its CR with the first 224 bytes and swallows the next line
> \[223*a]
> list-tube-used
< BAD_FORMAT
> list-tube-used
< USING default
