using Trellis.Core.Persistence;
using Trellis.Storage.Postgres;
using Trellis.Storage.Sqlite;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>Bad configuration is refused before a store opens, with the option named.</summary>
public sealed class OptionsTests
{
    [Theory]
    [InlineData("Bad-Name")]
    [InlineData("UPPER")]
    [InlineData("1st")]
    [InlineData("")]
    public void A_schema_that_is_not_a_plain_identifier_is_refused(string schema)
    {
        var error = Assert.Throws<ArgumentException>(() => new PostgresStoreOptions { ConnectionString = "Host=x", Schema = schema }.Validate());
        Assert.Equal("Schema", error.ParamName);
    }

    [Fact]
    public void A_missing_connection_string_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => new PostgresStoreOptions().Validate());
        Assert.Equal("ConnectionString", error.ParamName);
    }

    [Fact]
    public void Grain_limits_must_be_positive()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SqliteStoreOptions { Grains = new GrainStorageOptions { MaxBatchSize = 0 } }.Validate());
        Assert.Equal("MaxBatchSize", error.ParamName);
        Assert.Throws<ArgumentException>(() => new SqliteStoreOptions { Path = " " }.Validate());
    }

    [Fact]
    public async Task The_configured_provider_is_opened()
    {
        await using var store = await StateStores.OpenAsync(new StorageOptions { Provider = StateStoreProvider.InMemory }, cancellationToken: TestContext.Current.CancellationToken);

        Assert.IsType<InMemoryStateStore>(store);
    }
}
