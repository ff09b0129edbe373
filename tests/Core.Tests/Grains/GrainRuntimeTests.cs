using Trellis.Core.Errors;
using Trellis.Core.Grains;
using Trellis.Core.Persistence;
using Trellis.TestKit.Grains;
using Xunit;

namespace Trellis.Core.Tests.Grains;

public sealed class InMemoryGrainRuntimeTests : GrainRuntimeSuite
{
    protected override ValueTask<IStateStore> OpenStoreAsync() => ValueTask.FromResult<IStateStore>(new InMemoryStateStore());
}

public sealed class InMemoryPlacementTests : PlacementSuite
{
    protected override ValueTask<IStateStore> OpenStoreAsync() => ValueTask.FromResult<IStateStore>(new InMemoryStateStore());
}

public sealed class InMemoryAppTests : AppSuite
{
    protected override ValueTask<IStateStore> OpenStoreAsync() => ValueTask.FromResult<IStateStore>(new InMemoryStateStore());
}

public sealed class GrainIdTests
{
    [Fact]
    public void The_default_idle_age_is_fifteen_minutes() =>
        Assert.Equal(TimeSpan.FromMinutes(15), new GrainsOptions().IdleTimeout);

    [Theory]
    [InlineData("")]
    [InlineData("Upper")]
    [InlineData("has space")]
    [InlineData("9starts-with-digit")]
    public void Bad_grain_types_are_refused_with_a_message(string type)
    {
        var e = Assert.Throws<TrellisException>(() => GrainId.Create(type, "k"));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("grain type", e.Message);
    }

    [Fact]
    public void Grain_ids_parse_and_spread_over_shards()
    {
        var id = GrainId.Parse("app/chat/room-1");
        Assert.Equal("app", id.Type);
        Assert.Equal("chat/room-1", id.Key);
        Assert.Equal(id.ShardOf(64), GrainId.Create("app", "chat/room-1").ShardOf(64));
        Assert.Throws<TrellisException>(() => GrainId.Parse("no-slash"));
        Assert.Throws<TrellisException>(() => GrainId.Create("t", new string('k', 401)));
        Assert.Throws<TrellisException>(() => GrainId.Create("t", "a\nb"));

        var counts = new int[16];
        for (var i = 0; i < 16_000; i++)
        {
            counts[GrainId.Create("counter", $"key-{i}").ShardOf(16)]++;
        }

        Assert.All(counts, c => Assert.InRange(c, 800, 1200));
    }
}
