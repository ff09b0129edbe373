using Trellis.Core.Errors;

namespace Trellis.Flows.Activities;

/// <summary>Starter programs for <c>activity create --lang</c>: each echoes what comes in on <c>in</c> to <c>out</c>
/// and acknowledges it, speaking the host's JSON-lines protocol (see Activities/README.md).</summary>
public static class ActivityTemplates
{
    public static readonly IReadOnlyList<string> Languages = ["python", "node", "sh"];

    /// <summary>The entry command and the files of a starter activity in <paramref name="language"/>.</summary>
    public static (IReadOnlyList<string> Entry, IReadOnlyDictionary<string, string> Files) For(string language) => language switch
    {
        "python" => (["/usr/bin/python3", "-u", "main.py"], new Dictionary<string, string> { ["main.py"] = Python }),
        "node" => (["node", "main.js"], new Dictionary<string, string> { ["main.js"] = Node }),
        "sh" => (["/bin/sh", "main.sh"], new Dictionary<string, string> { ["main.sh"] = Shell }),
        _ => throw TrellisException.Invalid($"--lang must be one of {string.Join(", ", Languages)}, not '{language}'"),
    };

    private const string Python = """
        #!/usr/bin/python3
        # A Trellis activity: one JSON object per line on stdin, answers on stdout, logs on stderr.
        import json
        import sys

        for line in sys.stdin:
            msg = json.loads(line)
            # msg = {"id": "...", "port": "in", "data": ...}
            result = msg["data"]
            print(json.dumps({"id": msg["id"], "port": "out", "data": result}, separators=(",", ":")), flush=True)
            print(json.dumps({"id": msg["id"], "ack": True}, separators=(",", ":")), flush=True)

        """;

    private const string Node = """
        // A Trellis activity: one JSON object per line on stdin, answers on stdout, logs on stderr.
        const readline = require('readline');

        const rl = readline.createInterface({ input: process.stdin });
        rl.on('line', (line) => {
          const msg = JSON.parse(line); // {"id": "...", "port": "in", "data": ...}
          const result = msg.data;
          process.stdout.write(JSON.stringify({ id: msg.id, port: 'out', data: result }) + '\n');
          process.stdout.write(JSON.stringify({ id: msg.id, ack: true }) + '\n');
        });

        """;

    private const string Shell = """
        #!/bin/sh
        # A Trellis activity: the host writes {"id":"…","port":"in","data":…} lines; this one passes each on to
        # port out and acknowledges it in the same line ("ack": true).
        exec sed -u 's/^{"id":"\([^"]*\)","port":"in",/{"id":"\1","port":"out","ack":true,/'

        """;
}
