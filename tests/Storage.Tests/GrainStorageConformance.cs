using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using GrainStorageOptions = Trellis.Storage.GrainStorageOptions;
using Trellis.Storage.Tests.Support;
using Trellis.Storage.Internal;
using Trellis.TestKit;
using Xunit;
using InconsistentStateException = Orleans.Storage.InconsistentStateException;

namespace Trellis.Storage.Tests;

/// <summary>Orleans' IGrainStorage contract as Trellis' providers keep it: ETags, conflicts, clears, and durable acknowledgements.</summary>
/// <remarks>Each backend is a subclass that starts providers on a real store and reads rows past the provider.</remarks>
public abstract class GrainStorageConformance : IAsyncLifetime
{
    protected const string StateName = "profile";
    private readonly List<IGrainStorage> _started = [];
    private IGrainStorage _storage = null!;

    /// <summary>Starts a provider on the test's store; <see cref="StopStorageAsync"/> lets go of it.</summary>
    protected abstract Task<IGrainStorage> StartStorageAsync(string name, string serviceId, GrainStorageOptions? limits);

    protected abstract Task StopStorageAsync(IGrainStorage storage);

    /// <summary>The writer loop of a started provider (its only one), to hold it while a batch forms.</summary>
    private protected abstract IGroupCommitProbe Probe(IGrainStorage storage);

    /// <summary>The stored (version, data) of provider "store"'s state, read on a connection of the test's own.</summary>
    protected abstract Task<(long Version, byte[]? Data)?> ReadRowDirectAsync(GrainId grain, string stateName);

    protected virtual ValueTask InitializeStoreAsync() => ValueTask.CompletedTask;

    protected virtual ValueTask DisposeStoreAsync() => ValueTask.CompletedTask;

    protected IGrainStorage Storage => _storage;

    public async ValueTask InitializeAsync()
    {
        await InitializeStoreAsync();
        _storage = await StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var storage in _started)
        {
            await StopStorageAsync(storage);
        }

        await DisposeStoreAsync();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task A_state_never_written_reads_as_a_new_instance_with_no_etag_and_no_record()
    {
        var state = new GrainState<Profile> { State = new Profile { Name = "left over" }, ETag = "7", RecordExists = true };

        await _storage.ReadStateAsync(StateName, NewGrain(), state);

        Assert.Equal(new Profile(), state.State);
        Assert.Null(state.ETag);
        Assert.False(state.RecordExists);
    }

    [Theory]
    [InlineData("string")]
    [InlineData("integer")]
    [InlineData("guid+extension")]
    public async Task A_write_reads_back_with_its_state_and_etag_whatever_the_key_kind(string keyKind)
    {
        var grain = keyKind switch
        {
            "string" => GrainId.Create("profile", $"Привет, мир/{Guid.NewGuid():N}"),
            "integer" => GrainId.Create(GrainType.Create("profile"), GrainIdKeyExtensions.CreateIntegerKey(Random.Shared.NextInt64())),
            _ => GrainId.Create(GrainType.Create("profile"), GrainIdKeyExtensions.CreateGuidKey(Guid.NewGuid(), "foo/bar\\#baz?")),
        };
        var written = new GrainState<Profile> { State = new Profile { Name = "Ада", Visits = 3, Tags = ["a", "b"] } };

        await _storage.WriteStateAsync(StateName, grain, written);
        var read = new GrainState<Profile>();
        await _storage.ReadStateAsync(StateName, grain, read);

        Assert.NotNull(written.ETag);
        Assert.True(written.RecordExists);
        Assert.Equal(written.ETag, read.ETag);
        Assert.True(read.RecordExists);
        Assert.Equal(written.State, read.State);
    }

    [Fact]
    public async Task Every_write_changes_the_etag_even_with_the_same_state()
    {
        var grain = NewGrain();
        var state = new GrainState<Profile> { State = new Profile { Name = "same" } };
        var etags = new List<string?>();
        for (var i = 0; i < 3; i++)
        {
            await _storage.WriteStateAsync(StateName, grain, state);
            etags.Add(state.ETag);
        }

        Assert.Equal(3, etags.Distinct().Count());
        Assert.DoesNotContain(null, etags);
    }

    [Fact]
    public async Task A_write_with_a_stale_etag_throws_InconsistentStateException_and_changes_nothing()
    {
        var grain = NewGrain();
        var state = new GrainState<Profile> { State = new Profile { Name = "first" } };
        await _storage.WriteStateAsync(StateName, grain, state);
        var stale = state.ETag;
        state.State = new Profile { Name = "latest" };
        await _storage.WriteStateAsync(StateName, grain, state);

        var staleWriter = new GrainState<Profile> { State = new Profile { Name = "stale" }, ETag = stale, RecordExists = true };
        var error = await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync(StateName, grain, staleWriter));

        Assert.Equal(state.ETag, error.StoredEtag);
        Assert.Equal(stale, error.CurrentEtag);
        Assert.Equal(stale, staleWriter.ETag);
        var read = new GrainState<Profile>();
        await _storage.ReadStateAsync(StateName, grain, read);
        Assert.Equal("latest", read.State!.Name);
        Assert.Equal(state.ETag, read.ETag);
    }

    [Fact]
    public async Task A_second_activation_writing_without_an_etag_over_a_stored_state_is_refused()
    {
        var grain = NewGrain();
        await _storage.WriteStateAsync(StateName, grain, new GrainState<Profile> { State = new Profile { Name = "winner" } });

        var second = new GrainState<Profile> { State = new Profile { Name = "loser" } };
        var error = await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync(StateName, grain, second));

        Assert.Equal("1", error.StoredEtag);
        Assert.Null(error.CurrentEtag);
    }

    [Fact]
    public async Task An_etag_this_storage_did_not_issue_is_refused()
    {
        var grain = NewGrain();
        await _storage.WriteStateAsync(StateName, grain, new GrainState<Profile> { State = new Profile() });

        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync(StateName, grain, new GrainState<Profile> { State = new Profile(), ETag = "W/\"abc\"" }));
    }

    [Fact]
    public async Task Clear_then_read_gives_a_new_state_no_record_and_a_fresh_etag_that_the_next_write_uses()
    {
        var grain = NewGrain();
        var state = new GrainState<Profile> { State = new Profile { Name = "before", Visits = 42 } };
        await _storage.WriteStateAsync(StateName, grain, state);
        var written = state.ETag;

        await _storage.ClearStateAsync(StateName, grain, state);

        Assert.False(state.RecordExists);
        Assert.Equal(new Profile(), state.State);
        Assert.NotNull(state.ETag);
        Assert.NotEqual(written, state.ETag);
        var read = new GrainState<Profile>();
        await _storage.ReadStateAsync(StateName, grain, read);
        Assert.False(read.RecordExists);
        Assert.Equal(new Profile(), read.State);
        Assert.Equal(state.ETag, read.ETag);

        // The ETag a clear returns is the one to write with; the pre-clear ETag never matches again (no ABA).
        var stale = new GrainState<Profile> { State = new Profile { Name = "stale" }, ETag = written };
        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync(StateName, grain, stale));
        read.State = new Profile { Name = "after" };
        await _storage.WriteStateAsync(StateName, grain, read);
        Assert.True(read.RecordExists);
        Assert.NotEqual(state.ETag, read.ETag);
    }

    [Fact]
    public async Task A_clear_with_a_stale_etag_throws_and_keeps_the_state()
    {
        var grain = NewGrain();
        var state = new GrainState<Profile> { State = new Profile { Name = "first" } };
        await _storage.WriteStateAsync(StateName, grain, state);
        var stale = state.ETag;
        state.State = new Profile { Name = "latest" };
        await _storage.WriteStateAsync(StateName, grain, state);

        var staleClearer = new GrainState<Profile> { State = new Profile(), ETag = stale, RecordExists = true };
        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.ClearStateAsync(StateName, grain, staleClearer));

        var read = new GrainState<Profile>();
        await _storage.ReadStateAsync(StateName, grain, read);
        Assert.True(read.RecordExists);
        Assert.Equal("latest", read.State!.Name);
    }

    [Fact]
    public async Task Clearing_a_state_never_written_succeeds_and_leaves_nothing_stored()
    {
        var grain = NewGrain();
        var state = new GrainState<Profile> { State = new Profile { Name = "in memory only" }, RecordExists = true };

        await _storage.ClearStateAsync(StateName, grain, state);

        Assert.False(state.RecordExists);
        Assert.Null(state.ETag);
        Assert.Equal(new Profile(), state.State);
        await _storage.WriteStateAsync(StateName, grain, new GrainState<Profile> { State = new Profile { Name = "first write" } });
    }

    [Fact]
    public async Task Clearing_twice_keeps_counting_and_keeps_a_state_instance()
    {
        var grain = NewGrain();
        var state = new GrainState<Profile> { State = new Profile { Name = "x" } };
        await _storage.WriteStateAsync(StateName, grain, state);

        await _storage.ClearStateAsync(StateName, grain, state);
        var first = state.ETag;
        await _storage.ClearStateAsync(StateName, grain, state);

        Assert.False(state.RecordExists);
        Assert.NotNull(state.State);
        Assert.NotEqual(first, state.ETag);
    }

    [Fact]
    public async Task State_names_providers_and_services_keep_separate_records()
    {
        var grain = NewGrain();
        var other = await StartAsync(name: "other-provider");
        var otherService = await StartAsync(serviceId: "other-service");

        await _storage.WriteStateAsync("first", grain, new GrainState<Profile> { State = new Profile { Name = "first" } });
        await _storage.WriteStateAsync("second", grain, new GrainState<Profile> { State = new Profile { Name = "second" } });
        await other.WriteStateAsync("first", grain, new GrainState<Profile> { State = new Profile { Name = "other provider" } });
        await otherService.WriteStateAsync("first", grain, new GrainState<Profile> { State = new Profile { Name = "other service" } });

        Assert.Equal("first", (await ReadAsync(_storage, "first", grain)).State!.Name);
        Assert.Equal("second", (await ReadAsync(_storage, "second", grain)).State!.Name);
        Assert.Equal("other provider", (await ReadAsync(other, "first", grain)).State!.Name);
        Assert.Equal("other service", (await ReadAsync(otherService, "first", grain)).State!.Name);
    }

    [Fact]
    public async Task A_state_larger_than_the_limit_is_refused_before_anything_is_written()
    {
        var small = await StartAsync(name: "small", limits: new GrainStorageOptions { MaxStateBytes = 64 });
        var grain = NewGrain();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => small.WriteStateAsync(StateName, grain, new GrainState<Profile> { State = new Profile { Name = new string('x', 100) } }));

        Assert.Contains("MaxStateBytes", error.Message, StringComparison.Ordinal);
        Assert.False((await ReadAsync(small, StateName, grain)).RecordExists);
    }

    [Fact]
    public async Task Sixty_four_concurrent_writers_are_group_committed_and_each_is_visible_when_acknowledged_and_after_reopening()
    {
        const int Writers = 64;
        const int Rounds = 5;
        var grains = Enumerable.Range(0, Writers).Select(i => GrainId.Create("counter", $"writer-{i}-{Guid.NewGuid():N}")).ToArray();
        var states = grains.Select(_ => new GrainState<Profile> { State = new Profile() }).ToArray();
        var probe = Probe(_storage);
        var before = probe.Stats;

        // Hold the writer inside its first batch so that the other writes are queued meanwhile and must share a commit.
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        probe.BeforeBatch = async () =>
        {
            probe.BeforeBatch = null;
            entered.TrySetResult();
            await release.Task;
        };

        async Task WriteAndCheck(int writer, int round)
        {
            states[writer].State!.Visits = round;
            await _storage.WriteStateAsync(StateName, grains[writer], states[writer]);
            // Acknowledged: an independent connection must already see this very version (no ack before the commit).
            Assert.Equal((long.Parse(states[writer].ETag!), round), await ReadDirectAsync(grains[writer]));
        }

        // Called on this thread, each write is queued before its call returns (the queue has room), so all of them
        // wait behind the held batch and the writer takes them together once it is let go.
        var first = WriteAndCheck(0, 1);
        await entered.Task.Within("the writer to hold its first batch");
        var rest = Enumerable.Range(1, Writers - 1).Select(writer => WriteAndCheck(writer, 1)).ToArray();
        release.SetResult();
        await Task.WhenAll(rest.Append(first)).Within($"{Writers} first writes to be acknowledged");
        var held = probe.Stats;
        Assert.Equal((2L, Writers - 1), (held.Batches - before.Batches, held.LastBatch));

        await Task.WhenAll(Enumerable.Range(0, Writers).Select(writer => Task.Run(async () =>
        {
            for (var round = 2; round <= Rounds; round++)
            {
                await WriteAndCheck(writer, round);
            }
        }))).Within($"{Writers} writers x {Rounds - 1} more rounds");
        var after = probe.Stats;
        Assert.Equal(Writers * Rounds, after.Writes - before.Writes);

        // Close the file (the storage was its only user) and read everything back through a new writer and readers.
        await StopStorageAsync(_storage);
        _started.Remove(_storage);
        var reopened = await StartAsync();
        for (var writer = 0; writer < Writers; writer++)
        {
            var read = await ReadAsync(reopened, StateName, grains[writer]);
            Assert.Equal(Rounds, read.State!.Visits);
            Assert.Equal(Rounds.ToString(System.Globalization.CultureInfo.InvariantCulture), read.ETag);
        }
    }

    private async Task<(long Version, int Visits)> ReadDirectAsync(GrainId grain)
    {
        var row = await ReadRowDirectAsync(grain, StateName);
        Assert.True(row is { Data: not null }, $"row of {grain} should hold data once its write is acknowledged");
        var profile = Providers.Serializer.Deserialize<Profile>(new BinaryData(row.Value.Data!))!;
        return (row.Value.Version, profile.Visits);
    }

    private static async Task<GrainState<Profile>> ReadAsync(IGrainStorage storage, string stateName, GrainId grain)
    {
        var state = new GrainState<Profile>();
        await storage.ReadStateAsync(stateName, grain, state);
        return state;
    }

    private async Task<IGrainStorage> StartAsync(string name = "store", string serviceId = "service", GrainStorageOptions? limits = null)
    {
        var storage = await StartStorageAsync(name, serviceId, limits);
        _started.Add(storage);
        return storage;
    }

    protected static GrainId NewGrain() => GrainId.Create("profile", Guid.NewGuid().ToString("N"));

    /// <summary>A state with value equality, serialized as JSON.</summary>
    public sealed record Profile
    {
        public string? Name { get; set; }

        public int Visits { get; set; }

        public List<string> Tags { get; set; } = [];

        public bool Equals(Profile? other)
            => other is not null && Name == other.Name && Visits == other.Visits && Tags.SequenceEqual(other.Tags);

        public override int GetHashCode() => HashCode.Combine(Name, Visits, Tags.Count);
    }
}
