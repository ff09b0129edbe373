using System.Buffers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;

namespace Trellis.Grpc.Transcoding.Internal;

/// <summary>Builds the request message of a transcoded call from the JSON body, the route variables and the query string.</summary>
/// <remarks>
/// Values from the URL are set by rendering them as proto3 JSON for their field and merging the parsed result,
/// so every conversion (numbers, enums by name or number, wrappers, Timestamp, Duration, FieldMask, bytes)
/// follows the one proto3 JSON mapping instead of a second hand-written one.
/// </remarks>
internal sealed class JsonRequestBinder
{
    private readonly MessageDescriptor _input;
    private readonly TranscodingRoute _route;
    private readonly (RouteVariable Variable, FieldDescriptor[] Path)[] _variables;
    private readonly HashSet<string> _routePaths;
    private readonly FieldDescriptor? _bodyField;
    private readonly bool _bodyIsWholeMessage;
    private readonly JsonParser _parser;
    private readonly int _maxBodySize;

    public JsonRequestBinder(MessageDescriptor input, TranscodingRoute route, string body, JsonTranscodingOptions options, string methodName)
    {
        _input = input;
        _route = route;
        _maxBodySize = options.MaxRequestBodySize;
        _parser = new JsonParser(JsonParser.Settings.Default.WithIgnoreUnknownFields(options.IgnoreUnknownFields).WithTypeRegistry(options.TypeRegistry));
        var variables = new List<(RouteVariable, FieldDescriptor[])>();
        _routePaths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var variable in route.Variables)
        {
            var path = FieldPaths.Resolve(input, variable.FieldPath)
                ?? throw new InvalidOperationException($"HTTP rule of {methodName}: '{variable.FieldPath}' is not a field of {input.FullName}.");
            var leaf = path[^1];
            if (leaf.IsRepeated || (leaf.FieldType == FieldType.Message && !IsScalarLike(leaf.MessageType)))
            {
                throw new InvalidOperationException($"HTTP rule of {methodName}: route variable '{variable.FieldPath}' must be a singular scalar field.");
            }

            variables.Add((variable, path));
            _routePaths.Add(FieldPaths.Canonical(path));
        }

        _variables = [.. variables];
        if (body == "*")
        {
            _bodyIsWholeMessage = true;
        }
        else if (body.Length > 0)
        {
            _bodyField = input.FindFieldByName(body)
                ?? throw new InvalidOperationException($"HTTP rule of {methodName}: body '{body}' is not a top-level field of {input.FullName}.");
        }
    }

    public bool HasBody => _bodyIsWholeMessage || _bodyField is not null;

    public async ValueTask<IMessage> BindAsync(HttpContext context)
    {
        IMessage message;
        if (HasBody)
        {
            var json = await ReadBodyAsync(context.Request, context.RequestAborted).ConfigureAwait(false);
            message = ParseBody(json);
        }
        else
        {
            message = NewMessage();
        }

        var values = context.Request.RouteValues;
        foreach (var (variable, path) in _variables)
        {
            Merge(message, path, variable.FieldPath, [_route.GetValue(variable, values)]);
        }

        // Query parameters bind only where neither the body nor the route already decides (ASP.NET Core's rule).
        if (!_bodyIsWholeMessage)
        {
            foreach (var (key, queryValues) in context.Request.Query)
            {
                var path = FieldPaths.Resolve(_input, key);
                if (path is null || (_bodyField is not null && path[0] == _bodyField) || _routePaths.Contains(FieldPaths.Canonical(path)))
                {
                    continue;
                }

                var leaf = path[^1];
                if (leaf.IsMap || (leaf.FieldType == FieldType.Message && !IsScalarLike(leaf.MessageType)))
                {
                    throw new GrpcException(StatusCode.InvalidArgument, $"Query parameter '{key}' names a message field, which cannot be set from the URL.");
                }

                var list = new List<string>(queryValues.Count);
                foreach (var value in queryValues)
                {
                    list.Add(value ?? string.Empty);
                }

                Merge(message, path, key, list);
            }
        }

        return message;
    }

    private IMessage NewMessage() => _input.Parser.ParseFrom(ByteString.Empty);

    private IMessage ParseBody(string json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return NewMessage();
        }

        try
        {
            if (_bodyIsWholeMessage)
            {
                return _parser.Parse(json, _input);
            }

            // Check the body is exactly one JSON value before embedding it, so it cannot smuggle in other fields.
            using (JsonDocument.Parse(json))
            {
            }

            var wrapped = "{" + JsonSerializer.Serialize(_bodyField!.JsonName) + ":" + json + "}";
            return _parser.Parse(wrapped, _input);
        }
        catch (Exception ex) when (ex is JsonException or InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            throw new GrpcException(StatusCode.InvalidArgument, "Request JSON payload is not correctly formatted: " + ex.Message);
        }
    }

    private void Merge(IMessage message, FieldDescriptor[] path, string name, IReadOnlyList<string> values)
    {
        string json;
        try
        {
            json = RenderJson(path, values);
        }
        catch (FormatException ex)
        {
            throw new GrpcException(StatusCode.InvalidArgument, $"Invalid value for '{name}': {ex.Message}");
        }

        try
        {
            var parsed = _parser.Parse(json, _input);
            message.MergeFrom(parsed.ToByteString());
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            throw new GrpcException(StatusCode.InvalidArgument, $"Invalid value '{values[^1]}' for '{name}': {ex.Message}");
        }
    }

    private static string RenderJson(FieldDescriptor[] path, IReadOnlyList<string> values)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            for (var i = 0; i < path.Length - 1; i++)
            {
                writer.WritePropertyName(path[i].JsonName);
                writer.WriteStartObject();
            }

            var leaf = path[^1];
            writer.WritePropertyName(leaf.JsonName);
            if (leaf.IsRepeated)
            {
                writer.WriteStartArray();
                foreach (var value in values)
                {
                    WriteValue(writer, leaf, value);
                }

                writer.WriteEndArray();
            }
            else
            {
                // A repeated query parameter for a singular field: the last one wins.
                WriteValue(writer, leaf, values[^1]);
            }

            for (var i = 0; i < path.Length; i++)
            {
                writer.WriteEndObject();
            }
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteValue(Utf8JsonWriter writer, FieldDescriptor field, string value)
    {
        var type = field.FieldType;
        if (type == FieldType.Message && field.MessageType.FullName == "google.protobuf.BoolValue")
        {
            type = FieldType.Bool;
        }

        switch (type)
        {
            case FieldType.Bool:
                if (!bool.TryParse(value, out var flag))
                {
                    throw new FormatException($"'{value}' is not true or false.");
                }

                writer.WriteBooleanValue(flag);
                break;

            case FieldType.Enum when int.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var number):
                writer.WriteNumberValue(number);
                break;

            default:
                // proto3 JSON accepts strings for every numeric type, enum names, bytes (base64) and the well-known scalars.
                writer.WriteStringValue(value);
                break;
        }
    }

    private async ValueTask<string> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var reader = request.BodyReader;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.Length > _maxBodySize)
            {
                reader.AdvanceTo(buffer.Start);
                throw new GrpcException(StatusCode.ResourceExhausted, $"Request body exceeds the limit of {_maxBodySize} bytes.");
            }

            if (result.IsCompleted)
            {
                var text = Encoding.UTF8.GetString(buffer);
                reader.AdvanceTo(buffer.End);
                return text;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Well-known messages that proto3 JSON writes as a single scalar value.</summary>
    private static bool IsScalarLike(MessageDescriptor message) => message.FullName switch
    {
        "google.protobuf.Timestamp" or "google.protobuf.Duration" or "google.protobuf.FieldMask"
            or "google.protobuf.DoubleValue" or "google.protobuf.FloatValue" or "google.protobuf.Int64Value"
            or "google.protobuf.UInt64Value" or "google.protobuf.Int32Value" or "google.protobuf.UInt32Value"
            or "google.protobuf.BoolValue" or "google.protobuf.StringValue" or "google.protobuf.BytesValue" => true,
        _ => false,
    };
}
