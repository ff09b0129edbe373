using Trellis.Deploy.Tests.Internal;

namespace Trellis.Deploy.Tests;

/// <summary>The reading of README.md's settings table the deploy checks rely on.</summary>
public sealed class SettingsTableTests
{
    [Fact]
    public void RowsWithTwoKeysGiveBothKeysOfTheSection()
    {
        var keys = SettingsTable.Parse("""
            ## Configuration

            | Key | Default | Meaning |
            |---|---|---|
            | `Trellis:Http:Url` | `http://127.0.0.1:5080` | listener |
            | `Trellis:Cluster:ServiceId`, `ClusterId` | `trellis`, `trellis` | ids |

            ## Next
            | `Trellis:Not:This` | x | y |
            """);

        Assert.Equal(["Trellis:Cluster:ClusterId", "Trellis:Cluster:ServiceId", "Trellis:Http:Url"], keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void TheReadmeTableHasTheClusterSettings()
    {
        Assert.True(SettingsTable.Exists("Trellis:Cluster:GatewayPort"));
        Assert.True(SettingsTable.Exists("Trellis:Cluster:AdvertisedAddress"));
        Assert.False(SettingsTable.Exists("Trellis:Cluster:NoSuchKey"));
    }

    [Theory]
    [InlineData("Trellis__Transport__RabbitMq__Uri", "Trellis:Transport:RabbitMq:Uri")]
    [InlineData("POD_IP", null)]
    public void VariablesMapToKeys(string variable, string? key) => Assert.Equal(key, SettingsTable.KeyOfVariable(variable));
}
