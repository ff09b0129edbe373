using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Trellis.Api.Proxy.Internal;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;

namespace Trellis.Api.Grpc.Internal;

/// <summary>Between protobuf messages and the JSON the proxy operations validate: proto field names (<c>health_check</c>),
/// default values left out (so an unset field is "missing" exactly as in the HTTP API), google.protobuf.Value as plain JSON.</summary>
internal static class ProtoJson
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true));
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = RequestBodies.MaxDepth };

    /// <summary>The message as a JSON object with the HTTP API's field names; dispose the document.</summary>
    public static JsonDocument ToJson(IMessage message)
    {
        string json;
        try
        {
            json = Formatter.Format(message);
        }
        catch (InvalidOperationException e)
        {
            // A google.protobuf.Value holding NaN or an infinity has no JSON form.
            throw TrellisException.Invalid($"the {message.Descriptor.Name} message cannot be read as JSON: {e.Message}");
        }

        try
        {
            return JsonDocument.Parse(json, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"the {message.Descriptor.Name} message nests too deeply (at most {RequestBodies.MaxDepth} levels): {e.Message}");
        }
    }

    /// <summary>A google.protobuf.Value as a payload; unset is JSON null.</summary>
    public static JsonPayload ToPayload(Value? value, string field)
    {
        if (value is null)
        {
            return JsonPayload.Null;
        }

        try
        {
            return JsonPayload.FromTrustedUtf8(Encoding.UTF8.GetBytes(Formatter.Format(value)));
        }
        catch (InvalidOperationException e)
        {
            throw TrellisException.Invalid($"{field} cannot be read as JSON: {e.Message}");
        }
    }

    /// <summary>A payload as a google.protobuf.Value (numbers become doubles, as in any proto3 JSON reader).</summary>
    public static Value ToValue(JsonPayload payload)
    {
        if (payload.IsNull)
        {
            return Value.ForNull();
        }

        try
        {
            return JsonParser.Default.Parse<Value>(payload.ToString());
        }
        catch (InvalidProtocolBufferException)
        {
            // Deeper than protobuf's recursion limit: hand it over as the JSON text.
            return Value.ForString(payload.ToString());
        }
        catch (InvalidJsonException)
        {
            return Value.ForString(payload.ToString());
        }
    }
}
