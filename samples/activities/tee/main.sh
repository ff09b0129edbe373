#!/bin/sh
# A Trellis activity in sh: the host writes {"id":"…","port":"in","data":…} lines; each is passed on to port out and
# acknowledged in the same line ("ack": true). Logs go to stderr.
echo "tee: ready" >&2
exec sed -u 's/^{"id":"\([^"]*\)","port":"in",/{"id":"\1","port":"out","ack":true,/'
