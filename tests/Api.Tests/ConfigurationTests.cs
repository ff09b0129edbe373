using Trellis.Api.Errors;
using Trellis.Api.Hosting;
using Trellis.Core.Errors;

namespace Trellis.Api.Tests;

/// <summary>The error table and the proxy's configuration checks.</summary>
public sealed class ConfigurationTests
{
    [Theory]
    [InlineData(ErrorKind.InvalidArgument, 400, "INVALID_ARGUMENT")]
    [InlineData(ErrorKind.NotFound, 404, "NOT_FOUND")]
    [InlineData(ErrorKind.AlreadyExists, 409, "ALREADY_EXISTS")]
    [InlineData(ErrorKind.PermissionDenied, 403, "PERMISSION_DENIED")]
    [InlineData(ErrorKind.Unauthenticated, 401, "UNAUTHENTICATED")]
    [InlineData(ErrorKind.ResourceExhausted, 413, "RESOURCE_EXHAUSTED")]
    [InlineData(ErrorKind.FailedPrecondition, 400, "FAILED_PRECONDITION")]
    [InlineData(ErrorKind.Unavailable, 503, "UNAVAILABLE")]
    [InlineData(ErrorKind.DeadlineExceeded, 504, "DEADLINE_EXCEEDED")]
    [InlineData(ErrorKind.Unknown, 500, "UNKNOWN")]
    [InlineData(ErrorKind.Internal, 500, "INTERNAL")]
    public void Each_error_kind_has_one_status_and_name(ErrorKind kind, int status, string name)
    {
        Assert.Equal(status, ErrorTable.HttpStatus(kind));
        Assert.Equal(name, ErrorTable.CodeName(kind));
    }

    [Fact]
    public void A_used_up_quota_is_429_and_an_oversized_body_413()
    {
        Assert.Equal(429, ApiException.HttpStatusOf(ApiException.QuotaExceeded("x")));
        Assert.Equal(413, ApiException.HttpStatusOf(ApiException.PayloadTooLarge("x")));
        Assert.Equal(413, ApiException.HttpStatusOf(TrellisException.TooLarge("x")));
    }

    [Theory]
    [InlineData("Trellis:Nodes:HealthInterval", "00:00:00", "Trellis:Nodes:HealthInterval must be positive")]
    [InlineData("Trellis:Nodes:MaxNodes", "0", "Trellis:Nodes:MaxNodes must be at least 1")]
    [InlineData("Trellis:Nodes:AllowedHosts:0", "not a host!", "Trellis:Nodes:AllowedHosts has 'not a host!'")]
    [InlineData("Trellis:Cluster:Provider", "Redis", "Trellis:Cluster:Provider must be Localhost or Postgres")]
    [InlineData("Trellis:Cluster:SiloPort", "30000", "Trellis:Cluster:SiloPort and Trellis:Cluster:GatewayPort must be two different ports")]
    [InlineData("Trellis:Cluster:AdvertisedAddress", "not a host!", "Trellis:Cluster:AdvertisedAddress must be an IP address or a host name")]
    [InlineData("Trellis:Storage:Provider", "Redis", "Trellis:Storage:Provider must be Sqlite, Postgres or Memory")]
    [InlineData("Trellis:Storage:Provider", "Postgres", "Trellis:Storage:Postgres:ConnectionString is required")]
    [InlineData("Trellis:Security:AdminToken", "short", "Trellis:Security:AdminToken must be at least 16 characters")]
    public void Bad_settings_stop_the_process_naming_the_key(string key, string value, string expected)
    {
        var e = Assert.Throws<TrellisException>(() => TrellisApp.Build([], "gateway", new Dictionary<string, string?>
        {
            [key] = value,
        }));
        Assert.Contains(expected, e.Message);
    }
}
