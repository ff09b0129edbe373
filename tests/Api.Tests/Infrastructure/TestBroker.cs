namespace Trellis.Api.Tests.Infrastructure;

/// <summary>The RabbitMQ broker named by <c>TRELLIS_TEST_RABBITMQ</c> (./test.sh starts one), as gateway settings.</summary>
internal static class TestBroker
{
    public const string Variable = "TRELLIS_TEST_RABBITMQ";

    /// <summary>Settings that put a gateway on the broker; skips the calling test when no
    /// broker is configured (the test script turns a skip into a failure).</summary>
    public static Dictionary<string, string?> GatewaySettings(string cluster)
    {
        var uri = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(uri))
        {
            Assert.Skip($"{Variable} not set; ./test.sh starts a broker");
        }

        return new Dictionary<string, string?>
        {
            ["Trellis:Transport:Provider"] = "RabbitMq",
            ["Trellis:Transport:RabbitMq:Uri"] = uri,
        };
    }
}
