using System.Text.Encodings.Web;
using System.Text.Json;

namespace Trellis.Api.Errors;

/// <summary>How the HTTP APIs write JSON responses.</summary>
public static class ResponseJson
{
    /// <summary>Relaxed escaping: responses are application/json, never embedded in HTML, so messages stay readable
    /// ("Bearer &lt;token&gt;" rather than "Bearer \u003Ctoken\u003E").</summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
