using System.Buffers;
using System.Text.Json;
using Trellis.Grains.Apps;

namespace Trellis.Hosting.Cluster;

/// <summary>Appends a JSON line per app activation start and end to the file of <c>Trellis:Grains:ActivationLog</c>:
/// <c>{"t": unix ms, "grain": app, "silo": silo address, "active": true|false}</c>. The chaos test reads it to find
/// which silo held which app when, and to count overlapping activations (tests/Chaos.Tests).</summary>
/// <remarks>Each line goes to the operating system in one unbuffered append, so a SIGKILLed process has lost nothing it
/// logged; several processes may share the file. The file is never closed before the process ends (the system closes it
/// then): grains still activate and deactivate while the host shuts down, and their lines belong in the log.</remarks>
public sealed class ActivationLog : IAppActivationObserver
{
    public const string Key = "Trellis:Grains:ActivationLog";

    private readonly FileStream _file;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();

    public ActivationLog(string path, TimeProvider time)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        _file = new FileStream(full, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        _time = time;
    }

    public void OnActivation(string app, string silo, bool active)
    {
        var line = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(line))
        {
            w.WriteStartObject();
            w.WriteNumber("t", _time.GetUtcNow().ToUnixTimeMilliseconds());
            w.WriteString("grain", app);
            w.WriteString("silo", silo);
            w.WriteBoolean("active", active);
            w.WriteEndObject();
        }

        line.Write("\n"u8);
        lock (_lock)
        {
            _file.Write(line.WrittenSpan);
        }
    }
}
