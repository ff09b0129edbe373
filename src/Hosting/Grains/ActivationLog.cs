using System.Text.Json;
using Trellis.Core.Grains;

namespace Trellis.Hosting.Grains;

/// <summary>Appends every activation start and end of this silo to a file as JSON lines
/// (<c>{"t":unix ms,"grain","silo","epoch","active"}</c>), flushed per line so a killed process loses nothing it logged.</summary>
/// <remarks>Enabled by <c>Trellis:Grains:ActivationLog</c>; the chaos test reads these files to prove no grain was live on
/// two silos at once.</remarks>
public sealed class ActivationLog(string path, TimeProvider time) : IDisposable
{
    private readonly StreamWriter _writer = new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
    private readonly Lock _lock = new();

    public void Write(ActivationEvent e)
    {
        var line = JsonSerializer.Serialize(new
        {
            t = time.GetUtcNow().ToUnixTimeMilliseconds(),
            grain = e.Grain.ToString(),
            silo = e.SiloId,
            epoch = e.Epoch,
            active = e.Active,
        });
        lock (_lock)
        {
            _writer.WriteLine(line);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _writer.Dispose();
        }
    }
}
