using System.Text.Json;
using Trellis.Contracts.V1;
using Trellis.Grains.Devices;

namespace Trellis.Api.Edge.Internal;

/// <summary>The JSON of the edge admin API: devices (never a token or its hash), services, builds.</summary>
internal static class EdgeJson
{
    public static void WriteDevice(Utf8JsonWriter w, DeviceRecord d)
    {
        w.WriteStartObject();
        w.WriteString("provider", d.Provider);
        w.WriteString("status", d.Online ? "online" : "offline");
        WriteTime(w, "lastSeen", d.LastSeen);
        WriteTime(w, "connectedAt", d.ConnectedAt);
        WriteText(w, "version", d.Hello?.Version);
        WriteText(w, "arch", d.Hello?.Arch);
        WriteText(w, "hostname", d.Hello?.Hostname);
        w.WriteStartArray("services");
        foreach (var s in d.Services)
        {
            WriteService(w, new EdgeServiceEntry(s.Publisher, s.Service, d.Provider));
        }

        w.WriteEndArray();
        w.WriteStartArray("jobs");
        foreach (var j in d.Jobs)
        {
            w.WriteStartObject();
            w.WriteString("id", j.Id);
            w.WriteString("name", j.Name);
            w.WriteString("group", j.Group);
            WriteTime(w, "startAt", j.StartAt);
            w.WriteString("status", j.Status);
            w.WriteNumber("restarts", j.Restarts);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("grant");
        foreach (var g in d.Grant)
        {
            w.WriteStringValue(g);
        }

        w.WriteEndArray();
        w.WriteBoolean("hasToken", d.HasToken);
        w.WriteBoolean("autoUpdate", d.Hello?.AutoUpdate ?? false);
        w.WriteEndObject();
    }

    public static void WriteService(Utf8JsonWriter w, EdgeServiceEntry s)
    {
        w.WriteStartObject();
        w.WriteString("publisher", s.Publisher);
        w.WriteString("service", s.Service);
        w.WriteString("provider", s.Provider);
        w.WriteString("topic", s.Topic);
        w.WriteEndObject();
    }

    public static void WriteBuild(Utf8JsonWriter w, BuildInfo b)
    {
        w.WriteStartObject();
        w.WriteString("arch", b.Arch);
        w.WriteString("version", b.Version);
        w.WriteString("sha256", b.Sha256);
        w.WriteNumber("size", b.Size);
        w.WriteString("path", b.Path);
        w.WriteEndObject();
    }

    private static void WriteTime(Utf8JsonWriter w, string name, DateTimeOffset? time)
    {
        if (time is { } t)
        {
            w.WriteString(name, t.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void WriteText(Utf8JsonWriter w, string name, string? text)
    {
        if (text is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, text);
        }
    }
}
