using System.Net;
using System.Text;
using System.Text.Json;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Trellis.Grpc.Client;
using Trellis.Grpc.Server;
using Trellis.Grpc.Tests.Infrastructure;
using Trellis.Grpc.Tests.V1;
using Trellis.Grpc.Transcoding;

namespace Trellis.Grpc.Tests.Transcoding;

public sealed class TranscodingFixture : IAsyncLifetime
{
    public GrpcTestHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var service = LibraryService.Create();
        Host = await GrpcTestHost.StartAsync(endpoints =>
        {
            endpoints.MapGrpcService(service);
            endpoints.MapGrpcJsonTranscoding(service, new JsonTranscodingOptions { TypeRegistry = TypeRegistry.FromMessages(StringValue.Descriptor) });
        });
    }

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>google.api.http rules served as JSON on the HTTP/1.1 port.</summary>
public sealed class TranscodingTests(TranscodingFixture fixture) : IClassFixture<TranscodingFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private HttpClient Http => fixture.Host.Http1;

    [Fact]
    public async Task Get_binds_route_and_query_parameters_with_type_conversion()
    {
        using var response = await Http.GetAsync(
            "/v1/shelves/42?genre=HISTORY&tags=a&tags=b&filter.author=Ann&filter.minPages=10&verbose=true&limit=5&since=2024-01-02T03:04:05Z", Ct);
        var json = await JsonAsync(response, HttpStatusCode.OK);

        Assert.Equal("42", json.GetProperty("id").GetString());
        Assert.Equal("HISTORY", json.GetProperty("genre").GetString());
        Assert.Equal(["a", "b"], json.GetProperty("tags").EnumerateArray().Select(static t => t.GetString()));
        Assert.Equal("Ann|10|True|5|2024-01-02T03:04:05.0000000+00:00", json.GetProperty("theme").GetString());
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
    }

    [Fact]
    public async Task Query_accepts_proto_names_and_enum_numbers()
    {
        using var response = await Http.GetAsync("/v1/shelves/1?genre=1&filter.min_pages=3", Ct);
        var json = await JsonAsync(response, HttpStatusCode.OK);
        Assert.Equal("FICTION", json.GetProperty("genre").GetString());
        Assert.StartsWith("|3|", json.GetProperty("theme").GetString());
    }

    [Fact]
    public async Task Route_values_win_over_query_parameters_for_the_same_field()
    {
        using var response = await Http.GetAsync("/v1/shelves/7?shelf_id=99&shelfId=98", Ct);
        Assert.Equal("7", (await JsonAsync(response, HttpStatusCode.OK)).GetProperty("id").GetString());
    }

    [Fact]
    public async Task Multi_segment_variables_and_additional_bindings()
    {
        using var nested = await Http.GetAsync("/v1/shelves/7/books/9", Ct);
        Assert.Equal("shelves/7/books/9", (await JsonAsync(nested, HttpStatusCode.OK)).GetProperty("title").GetString());

        using var catchAll = await Http.GetAsync("/v1/books/a/b/c", Ct);
        Assert.Equal("a/b/c", (await JsonAsync(catchAll, HttpStatusCode.OK)).GetProperty("title").GetString());
    }

    [Fact]
    public async Task Post_with_body_field_binds_the_body_to_that_field_and_the_rest_from_the_query()
    {
        using var response = await Http.PostAsync("/v1/shelves?requestId=r1", Json("""{"theme":"sci-fi","tags":["x"],"genre":"FICTION"}"""), Ct);
        var json = await JsonAsync(response, HttpStatusCode.OK);

        Assert.Equal("sci-fi|r1", json.GetProperty("theme").GetString());
        Assert.Equal("FICTION", json.GetProperty("genre").GetString());
        Assert.Equal("yes", response.Headers.GetValues("x-created").Single());
    }

    [Fact]
    public async Task Patch_with_body_star_takes_nested_route_values_over_the_body()
    {
        using var response = await Http.PatchAsync("/v1/shelves/3/books/4", Json("""{"book":{"title":"T","shelfId":"99","published":"2020-05-06T07:08:09Z"}}"""), Ct);
        var json = await JsonAsync(response, HttpStatusCode.OK);

        Assert.Equal("3", json.GetProperty("shelfId").GetString());
        Assert.Equal("4", json.GetProperty("id").GetString());
        Assert.Equal("T", json.GetProperty("title").GetString());
        Assert.Equal("2020-05-06T07:08:09Z", json.GetProperty("published").GetString());
    }

    [Fact]
    public async Task Verb_suffix_and_response_body_field()
    {
        using var response = await Http.PostAsync("/v1/books:search", Json("""{"query":"q","pageSize":2}"""), Ct);
        var json = await JsonAsync(response, HttpStatusCode.OK);

        Assert.Equal(JsonValueKind.Array, json.ValueKind);
        Assert.Equal(2, json.GetArrayLength());
        Assert.All(json.EnumerateArray(), static b => Assert.Equal("q", b.GetProperty("title").GetString()));
    }

    [Fact]
    public async Task Delete_and_custom_verbs()
    {
        using var deleted = await Http.DeleteAsync("/v1/shelves/5", Ct);
        Assert.Equal("deleted", (await JsonAsync(deleted, HttpStatusCode.OK)).GetProperty("theme").GetString());

        using var archive = await Http.SendAsync(new HttpRequestMessage(new HttpMethod("ARCHIVE"), "/v1/shelves/5"), Ct);
        Assert.Equal("archived", (await JsonAsync(archive, HttpStatusCode.OK)).GetProperty("theme").GetString());
    }

    [Fact]
    public async Task Server_streaming_is_newline_delimited_json()
    {
        using var response = await Http.GetAsync("/v1/shelves/8/books?count=3", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("application/x-ndjson", response.Content.Headers.ContentType?.ToString());
        var lines = (await response.Content.ReadAsStringAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(3, lines.Length);
        for (var i = 0; i < 3; i++)
        {
            using var line = JsonDocument.Parse(lines[i]);
            Assert.Equal("book " + i, line.RootElement.GetProperty("title").GetString());
            Assert.Equal("8", line.RootElement.GetProperty("shelfId").GetString());
        }
    }

    [Fact]
    public async Task Server_streaming_error_after_messages_is_a_final_error_line()
    {
        using var response = await Http.GetAsync("/v1/shelves/8/books?count=2&failCode=14", Ct);
        var lines = (await response.Content.ReadAsStringAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(3, lines.Length);
        using var last = JsonDocument.Parse(lines[2]);
        Assert.Equal(14, last.RootElement.GetProperty("error").GetProperty("code").GetInt32());
    }

    [Theory]
    [InlineData(5, 404)]
    [InlineData(3, 400)]
    [InlineData(7, 403)]
    [InlineData(16, 401)]
    [InlineData(8, 429)]
    [InlineData(1, 499)]
    [InlineData(14, 503)]
    [InlineData(4, 504)]
    public async Task Errors_are_google_rpc_status_json_with_the_mapped_http_status(int grpcCode, int httpStatus)
    {
        using var response = await Http.GetAsync($"/v1/shelves/1?failCode={grpcCode}", Ct);
        var json = await JsonAsync(response, (HttpStatusCode)httpStatus);

        Assert.Equal(grpcCode, json.GetProperty("code").GetInt32());
        Assert.Equal($"failed with {grpcCode}", json.GetProperty("message").GetString());
        Assert.Equal(0, json.GetProperty("details").GetArrayLength());
    }

    [Fact]
    public async Task Error_details_come_from_grpc_status_details_bin()
    {
        using var response = await Http.GetAsync("/v1/shelves/1?failCode=9", Ct);
        var json = await JsonAsync(response, HttpStatusCode.BadRequest);

        Assert.Equal(9, json.GetProperty("code").GetInt32());
        var detail = json.GetProperty("details")[0];
        Assert.Equal("type.googleapis.com/google.protobuf.StringValue", detail.GetProperty("@type").GetString());
        Assert.Equal("shelf is locked", detail.GetProperty("value").GetString());
    }

    [Fact]
    public async Task Unexpected_exception_is_500_unknown_without_internals()
    {
        using var response = await Http.GetAsync("/v1/shelves/1?failCode=2", Ct);
        var json = await JsonAsync(response, HttpStatusCode.InternalServerError);
        Assert.Equal(2, json.GetProperty("code").GetInt32());
        Assert.DoesNotContain("secret", json.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("""{"theme": "x",""", "not correctly formatted")]
    [InlineData("""{"tags": 5}""", "not correctly formatted")]
    [InlineData("""{"nope": 1}""", "nope")]
    [InlineData("""{"theme": "a"} {"theme": "b"}""", "not correctly formatted")]
    [InlineData("""[1, 2]""", "not correctly formatted")]
    public async Task Malformed_json_or_wrong_types_are_400_invalid_argument(string body, string expectedText)
    {
        using var response = await Http.PostAsync("/v1/shelves", Json(body), Ct);
        var json = await JsonAsync(response, HttpStatusCode.BadRequest);

        Assert.Equal(3, json.GetProperty("code").GetInt32());
        Assert.Contains(expectedText, json.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("/v1/shelves/abc", "shelf_id")]
    [InlineData("/v1/shelves/1?limit=ten", "limit")]
    [InlineData("/v1/shelves/1?verbose=maybe", "verbose")]
    [InlineData("/v1/shelves/1?genre=POETRY", "genre")]
    [InlineData("/v1/shelves/1?since=yesterday", "since")]
    [InlineData("/v1/shelves/1?filter=x", "filter")]
    public async Task Bad_url_values_are_400_naming_the_field(string url, string field)
    {
        using var response = await Http.GetAsync(url, Ct);
        var json = await JsonAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(3, json.GetProperty("code").GetInt32());
        Assert.Contains(field, json.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Client_streaming_methods_are_not_transcoded_but_still_served_over_grpc()
    {
        using var response = await Http.PostAsync("/v1/upload", Json("{}"), Ct);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains(fixture.Host.Logs.Entries, static e => e.Message.Contains("UploadBooks", StringComparison.Ordinal) && e.Level == Microsoft.Extensions.Logging.LogLevel.Warning);

        var upload = GrpcMethod<Book, Shelf>.FromDescriptor(LibraryReflection.Descriptor.Services.Single(static s => s.Name == "Library").FindMethodByName("UploadBooks"));
        using var call = fixture.Host.Channel.ClientStreaming(upload, new CallOptions(cancellationToken: Ct));
        await call.RequestStream.WriteAsync(new Book { Title = "one" }, Ct);
        await call.RequestStream.CompleteAsync();
        Assert.Equal(["one"], (await call.ResponseAsync).Tags);
    }

    [Fact]
    public async Task The_same_handlers_answer_grpc_on_the_h2c_port()
    {
        var getShelf = GrpcMethod<GetShelfRequest, Shelf>.FromDescriptor(LibraryReflection.Descriptor.Services.Single(static s => s.Name == "Library").FindMethodByName("GetShelf"));
        var shelf = await fixture.Host.Channel.UnaryAsync(getShelf, new GetShelfRequest { ShelfId = 11 }, new CallOptions(cancellationToken: Ct));
        Assert.Equal(11, shelf.Id);
    }

    [Fact]
    public async Task A_rule_naming_a_missing_field_stops_start_up_with_a_clear_message()
    {
        var descriptor = LibraryReflection.Descriptor.Services.Single(static s => s.Name == "BadLibrary");
        var builder = new GrpcServiceBuilder(descriptor);
        var service = builder.AddUnary(builder.Method<GetShelfRequest, Shelf>("Broken"), static (r, c) => Task.FromResult(new Shelf())).Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await using var host = await GrpcTestHost.StartAsync(endpoints => endpoints.MapGrpcJsonTranscoding(service));
        });
        Assert.Contains("missing_field", error.Message);
        Assert.Contains("Broken", error.Message);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == expected, $"expected HTTP {(int)expected}, got {(int)response.StatusCode}: {text}");
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }
}
