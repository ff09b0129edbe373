using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Core.Bus;
using Trellis.Core.Errors;
using Trellis.Core.Grains.Internal;
using Trellis.Core.Messaging;
using Trellis.Core.Persistence;

namespace Trellis.Core.Grains;

/// <summary>What happened to an activation, for observers (the dashboard, the chaos test's history).</summary>
/// <param name="Grain">The grain.</param>
/// <param name="SiloId">The silo it lives on.</param>
/// <param name="Epoch">The lease epoch of its shard on that silo.</param>
/// <param name="Active">True when it became active, false when it ended.</param>
public readonly record struct ActivationEvent(GrainId Grain, string SiloId, long Epoch, bool Active);

/// <summary>One silo: holds shard leases, consumes their queues, and runs the grains of those shards.</summary>
/// <remarks>
/// <para>Every <see cref="GrainsOptions.BalanceInterval"/> the silo heartbeats into the membership table, renews its
/// leases, and compares what it holds with its fair share (shards ÷ live silos, rounded up): it takes free or expired
/// shards when under, and hands shards over when over. A silo counts as live only while its heartbeat is younger than a
/// lease: one silent for longer holds no lease any more, so its shards move when its leases expire rather than when it
/// is declared dead. Taking a shard starts the only consumer of its durable queue;
/// losing one (a renewal that fails, a fenced write) stops it at once and drops its activations without running them
/// further. A silo that dies simply stops renewing: its leases expire and the others take its shards, receiving the
/// messages it had not acknowledged.</para>
/// <para>Calls are at least once (a message whose handling was cut short is redelivered) and every state write is
/// fenced by the lease epoch, so a silo that lost a shard can never overwrite its new owner.</para>
/// </remarks>
public sealed partial class SiloRuntime : IAsyncDisposable
{
    private readonly ConcurrentDictionary<GrainId, Activation> _activations = new();
    private readonly ShardSlot?[] _slots;
    private readonly MessageBus _bus;
    private readonly IStateStore _store;
    private readonly GrainTypes _types;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _shardChanges = new(1, 1);
    private readonly string _address;
    private Task _balancing = Task.CompletedTask;
    private Task _collecting = Task.CompletedTask;
    private Task _reminding = Task.CompletedTask;
    private int _stopped;

    private SiloRuntime(MessageBus bus, IStateStore store, GrainTypes types, GrainsOptions options, TimeProvider time, ILoggerFactory loggers)
    {
        _bus = bus;
        _store = store;
        _types = types;
        Options = options;
        Time = time;
        Logger = loggers.CreateLogger<SiloRuntime>();
        _slots = new ShardSlot?[options.Shards];
        SiloId = NewSiloId(options);
        _address = $"{Environment.MachineName}/{Environment.ProcessId}";
        Client = new GrainClient(bus, options);
        Reminders = new ReminderService(this, store.Reminders);
    }

    /// <summary>This incarnation's id in the membership table (a restarted process gets a new one).</summary>
    public string SiloId { get; private set; }

    /// <summary>Calls grains anywhere in the cluster.</summary>
    public IGrainClient Client { get; }

    /// <summary>Live activations on this silo.</summary>
    public int ActivationCount => _activations.Count;

    /// <summary>When this silo last wrote its heartbeat to the membership table; null before the first. A silo whose
    /// heartbeat is older than <see cref="GrainsOptions.SiloDeadAfter"/> has lost the store and will be declared dead.</summary>
    public DateTimeOffset? LastHeartbeat { get; private set; }

    /// <summary>The shards this silo holds now.</summary>
    public IReadOnlyList<int> OwnedShards
    {
        get
        {
            var owned = new List<int>();
            for (var i = 0; i < _slots.Length; i++)
            {
                if (Volatile.Read(ref _slots[i]) is { IsLost: false })
                {
                    owned.Add(i);
                }
            }

            return owned;
        }
    }

    /// <summary>Raised when an activation starts or ends on this silo.</summary>
    public event Action<ActivationEvent>? ActivationChanged;

    /// <summary>Raised after the set of shards held by this silo changed.</summary>
    public event Action<SiloRuntime>? ShardsChanged;

    internal GrainsOptions Options { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger { get; }

    internal IGrainStorage Storage => _store.GrainStorage;

    internal MessageBus Bus => _bus;

    internal ReminderService Reminders { get; }

    /// <summary>Joins the cluster and starts taking shards; returns once the silo is a member (shards follow within a balance interval).</summary>
    public static async Task<SiloRuntime> StartAsync(
        MessageBus bus, IStateStore store, GrainTypes types, GrainsOptions options,
        TimeProvider? time = null, ILoggerFactory? loggers = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(types);
        options.Validate();
        var silo = new SiloRuntime(bus, store, types, options, time ?? TimeProvider.System, loggers ?? NullLoggerFactory.Instance);
        await ((GrainClient)silo.Client).DeclareAllAsync(cancellationToken).ConfigureAwait(false);
        await store.Membership.JoinAsync(silo.SiloId, silo._address, cancellationToken).ConfigureAwait(false);
        await store.Membership.SetStatusAsync(silo.SiloId, SiloStatus.Active, cancellationToken).ConfigureAwait(false);
        silo.LastHeartbeat = silo.Time.GetUtcNow();
        silo._balancing = Task.Run(silo.BalanceLoopAsync, CancellationToken.None);
        silo._collecting = Task.Run(silo.CollectLoopAsync, CancellationToken.None);
        silo._reminding = Task.Run(silo.ReminderLoopAsync, CancellationToken.None);
        LogStarted(silo.Logger, silo.SiloId, options.Shards);
        return silo;
    }

    /// <summary>Leaves the cluster cleanly: hands every shard over (activations deactivate, leases are released) and marks itself dead.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        await _store.Membership.SetStatusAsync(SiloId, SiloStatus.ShuttingDown).ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        await WaitLoopsAsync().ConfigureAwait(false);
        for (var i = 0; i < _slots.Length; i++)
        {
            if (Volatile.Read(ref _slots[i]) is { } slot)
            {
                await HandOverAsync(slot).ConfigureAwait(false);
            }
        }

        await _store.Membership.MarkDeadAsync(SiloId).ConfigureAwait(false);
        LogStopped(Logger, SiloId);
    }

    /// <summary>Stops as a crash would: no hand-over, no deactivation, no lease release; unacknowledged messages go back
    /// to their queues when the consumers stop. The other silos take the shards once the leases expire.</summary>
    public async Task KillAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        var consumers = new List<Subscription>();
        for (var i = 0; i < _slots.Length; i++)
        {
            if (Interlocked.Exchange(ref _slots[i], null) is { } slot)
            {
                slot.MarkLost();
                if (slot.Consumer is { } consumer)
                {
                    consumers.Add(consumer);
                }
            }
        }

        foreach (var consumer in consumers)
        {
            await DisposeQuietlyAsync(consumer).ConfigureAwait(false);
        }

        _activations.Clear();
        await WaitLoopsAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    // ---------------------------------------------------------------- dispatch

    /// <summary>Queues a turn on the grain's activation, activating it on this silo if needed.</summary>
    internal void Dispatch(ShardSlot slot, GrainId id, GrainTypes.Registration registration, Turn turn)
    {
        while (true)
        {
            if (slot.IsLost)
            {
                turn.Abandon(new ShardLostException(slot.Number, "its lease was lost"));
                return;
            }

            if (_activations.TryGetValue(id, out var existing))
            {
                if (existing.Shard == slot && existing.TryEnqueue(turn))
                {
                    return;
                }

                if (existing.Shard != slot)
                {
                    existing.Deactivate(DeactivationReason.ShardLost);
                }

                var next = new Activation(this, id, slot, registration.Factory(id), registration.Reentrant, existing.Gone);
                if (_activations.TryUpdate(id, next, existing))
                {
                    next.TryEnqueue(turn);
                    return;
                }

                continue;
            }

            var created = new Activation(this, id, slot, registration.Factory(id), registration.Reentrant, predecessor: null);
            if (_activations.TryAdd(id, created))
            {
                created.TryEnqueue(turn);
                return;
            }
        }
    }

    /// <summary>Runs a call on a grain of a shard this silo holds, bypassing the queue (reminders, benchmarks, tests).</summary>
    internal Task<Message> InvokeLocalAsync(GrainId id, GrainCall call, CancellationToken cancellationToken = default)
    {
        var slot = Volatile.Read(ref _slots[id.ShardOf(Options.Shards)]);
        if (slot is null || !slot.AcceptsWork(Time.GetTimestamp()))
        {
            throw new ShardLostException(id.ShardOf(Options.Shards), $"silo {SiloId} does not hold it");
        }

        if (!_types.TryGet(id.Type, out var registration))
        {
            throw new TrellisException(ErrorKind.NotFound, $"no grain type '{id.Type}' is registered");
        }

        var turn = new CallTurn(call, cancellationToken);
        Dispatch(slot, id, registration, turn);
        return turn.Reply;
    }

    internal bool TryGetRegistration(string type, out GrainTypes.Registration registration) => _types.TryGet(type, out registration);

    internal void OnActivated(Activation activation) =>
        ActivationChanged?.Invoke(new ActivationEvent(activation.Id, SiloId, activation.Shard.Lease.Epoch, Active: true));

    internal void OnDeactivated(Activation activation)
    {
        _activations.TryRemove(new KeyValuePair<GrainId, Activation>(activation.Id, activation));
        ActivationChanged?.Invoke(new ActivationEvent(activation.Id, SiloId, activation.Shard.Lease.Epoch, Active: false));
    }

    /// <summary>A write of this shard was refused because the lease moved on: give the shard up now.</summary>
    internal void OnShardFenced(ShardSlot slot, Exception e)
    {
        if (e is StaleEpochException)
        {
            _ = LoseAsync(slot, "a state write was fenced by a newer lease epoch");
        }
    }

    private async ValueTask OnShardMessageAsync(ShardSlot slot, DurableMessage message, CancellationToken cancellationToken)
    {
        if (!slot.AcceptsWork(Time.GetTimestamp()))
        {
            throw new RequeueException($"shard {slot.Number} is no longer held by silo {SiloId}");
        }

        if (!GrainEnvelope.TryRead(message.Data, out var id, out var method, out var data, out var error))
        {
            await _bus.ReplyAsync(message, Message.Error(Codes.BadRequest, error), CancellationToken.None).ConfigureAwait(false);
            return;
        }

        if (id.ShardOf(Options.Shards) != slot.Number)
        {
            await _bus.ReplyAsync(message, Message.Error(Codes.BadRequest,
                $"grain {id} belongs to shard {id.ShardOf(Options.Shards)}, not {slot.Number}: every process must use the same Trellis:Grains:Shards"), CancellationToken.None).ConfigureAwait(false);
            return;
        }

        if (!_types.TryGet(id.Type, out var registration))
        {
            await _bus.ReplyAsync(message, Message.Error(Codes.NotFound, $"no grain type '{id.Type}' is registered in this cluster"), CancellationToken.None).ConfigureAwait(false);
            return;
        }

        var turn = new CallTurn(new GrainCall(method, data, message.MessageId, message.Redelivered), cancellationToken);
        Dispatch(slot, id, registration, turn);
        Message reply;
        try
        {
            reply = await turn.Reply.ConfigureAwait(false);
        }
        catch (Exception e) when (Activation.MeansShardLost(e))
        {
            throw new RequeueException(e.Message);
        }

        if (slot.IsLost)
        {
            // The turn may have been cut short by the loss (its token cancelled); the next owner answers instead.
            throw new RequeueException($"shard {slot.Number} was lost while the call ran");
        }

        await _bus.ReplyAsync(message, reply, CancellationToken.None).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- shard ownership

    private async Task BalanceLoopAsync()
    {
        using var timer = new PeriodicTimer(Options.BalanceInterval, Time);
        do
        {
            try
            {
                await BalanceAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogBalanceFailed(Logger, SiloId, e.Message);
            }
        }
        while (await WaitTickAsync(timer).ConfigureAwait(false));
    }

    private async Task BalanceAsync(CancellationToken cancellationToken)
    {
        if (!await _store.Membership.HeartbeatAsync(SiloId, cancellationToken).ConfigureAwait(false))
        {
            // Declared dead by the others (it missed heartbeats, e.g. paused): its leases are gone or going. Stop acting.
            LogDeclaredDead(Logger, SiloId);
            for (var i = 0; i < _slots.Length; i++)
            {
                if (Volatile.Read(ref _slots[i]) is { } slot)
                {
                    await LoseAsync(slot, "this silo was declared dead").ConfigureAwait(false);
                }
            }

            // A dead incarnation can never come back; rejoin as a new one.
            SiloId = NewSiloId(Options);
            await _store.Membership.JoinAsync(SiloId, _address, cancellationToken).ConfigureAwait(false);
            await _store.Membership.SetStatusAsync(SiloId, SiloStatus.Active, cancellationToken).ConfigureAwait(false);
            return;
        }

        LastHeartbeat = Time.GetUtcNow();
        await RenewAsync(cancellationToken).ConfigureAwait(false);
        await StartMissingConsumersAsync(cancellationToken).ConfigureAwait(false);

        var members = await _store.Membership.ReadAllAsync(cancellationToken).ConfigureAwait(false);
        // Leases are renewed right after the heartbeat in this loop, so a silo silent for a lease's time to live holds
        // none and serves nothing. It is not declared dead yet (it may only be paused), but counting it for the share
        // would leave its expired shards to nobody until SiloDeadAfter: every other silo would already be at its share.
        var serving = Options.LeaseTtl < Options.SiloDeadAfter ? Options.LeaseTtl : Options.SiloDeadAfter;
        var live = 0;
        foreach (var silo in members.Silos)
        {
            if (silo.Status is SiloStatus.Dead)
            {
                continue;
            }

            var silent = members.Now - silo.LastHeartbeat;
            if (silent < Options.SiloDeadAfter)
            {
                live += (silo.Status is SiloStatus.Joining or SiloStatus.Active) && silent < serving ? 1 : 0;
            }
            else if (silo.SiloId != SiloId)
            {
                await _store.Membership.MarkDeadAsync(silo.SiloId, cancellationToken).ConfigureAwait(false);
                LogMarkedDead(Logger, silo.SiloId, SiloId);
            }
        }

        var share = (Options.Shards + Math.Max(live, 1) - 1) / Math.Max(live, 1);
        var held = OwnedShards.Count;
        if (held < share)
        {
            await TakeFreeShardsAsync(share - held, cancellationToken).ConfigureAwait(false);
        }
        else if (held > share)
        {
            // Hand over a few at a time so a joining silo does not see the cluster empty out at once.
            var extra = Math.Min(held - share, 4);
            for (var i = _slots.Length - 1; i >= 0 && extra > 0; i--)
            {
                if (Volatile.Read(ref _slots[i]) is { } slot)
                {
                    await HandOverAsync(slot).ConfigureAwait(false);
                    extra--;
                }
            }
        }
    }

    private async Task RenewAsync(CancellationToken cancellationToken)
    {
        var renewTicks = Ticks(Options.RenewInterval);
        for (var i = 0; i < _slots.Length; i++)
        {
            if (Volatile.Read(ref _slots[i]) is not { } slot)
            {
                continue;
            }

            var now = Time.GetTimestamp();
            if (now >= slot.ValidUntil)
            {
                await LoseAsync(slot, "its lease ran out before it could be renewed").ConfigureAwait(false);
                continue;
            }

            if (now - slot.RenewedAt < renewTicks)
            {
                continue;
            }

            Lease? renewed;
            try
            {
                renewed = await _store.Leases.RenewAsync(slot.Lease, Options.LeaseTtl, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogRenewFailed(Logger, slot.Number, SiloId, e.Message);
                continue; // try again next tick; the lease holds until ValidUntil
            }

            if (renewed is null)
            {
                await LoseAsync(slot, "another silo holds its lease").ConfigureAwait(false);
                continue;
            }

            slot.Lease = renewed;
            slot.RenewedAt = now;
            slot.ValidUntil = now + Ticks(Options.LeaseTtl);
        }
    }

    private async Task TakeFreeShardsAsync(int wanted, CancellationToken cancellationToken)
    {
        var leases = await _store.Leases.ReadAllAsync(cancellationToken).ConfigureAwait(false);
        var held = new bool[Options.Shards];
        foreach (var lease in leases.Leases)
        {
            if (lease.Shard < held.Length && lease.IsHeldAt(leases.Now))
            {
                held[lease.Shard] = true;
            }
        }

        var free = new List<int>();
        for (var shard = 0; shard < held.Length; shard++)
        {
            if (!held[shard] && Volatile.Read(ref _slots[shard]) is null)
            {
                free.Add(shard);
            }
        }

        // Silos starting together should not all race for shard 0 first.
        var order = free.ToArray();
        Random.Shared.Shuffle(order);
        foreach (var shard in order)
        {
            if (wanted == 0)
            {
                break;
            }

            var sent = Time.GetTimestamp();
            var lease = await _store.Leases.TryAcquireAsync(shard, SiloId, Options.LeaseTtl, cancellationToken).ConfigureAwait(false);
            if (lease is null)
            {
                continue;
            }

            var slot = new ShardSlot(shard, lease, sent + Ticks(Options.LeaseTtl)) { RenewedAt = sent };
            await TakeAsync(slot, cancellationToken).ConfigureAwait(false);
            wanted--;
        }
    }

    private async Task TakeAsync(ShardSlot slot, CancellationToken cancellationToken)
    {
        await _shardChanges.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Volatile.Write(ref _slots[slot.Number], slot);
            await Reminders.LoadAsync(slot, cancellationToken).ConfigureAwait(false);
            await TryStartConsumerAsync(slot, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _shardChanges.Release();
        }

        LogTook(Logger, SiloId, slot.Number, slot.Lease.Epoch);
        ShardsChanged?.Invoke(this);
    }

    private async Task StartMissingConsumersAsync(CancellationToken cancellationToken)
    {
        for (var i = 0; i < _slots.Length; i++)
        {
            if (Volatile.Read(ref _slots[i]) is { Consumer: null, IsLost: false } slot)
            {
                await TryStartConsumerAsync(slot, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task TryStartConsumerAsync(ShardSlot slot, CancellationToken cancellationToken)
    {
        try
        {
            slot.Consumer = await _bus.SubscribeDurableAsync(
                GrainClient.ShardTopic(Options.Cluster, slot.Number),
                GrainClient.ShardGroup,
                (message, ct) => OnShardMessageAsync(slot, message, ct),
                new HandlerOptions { SingleConsumer = true, Deduplicate = false, Timeout = Options.CallTimeout, Concurrency = Options.ShardConcurrency },
                cancellationToken).ConfigureAwait(false);
        }
        catch (TrellisException e) when (e.Kind == ErrorKind.FailedPrecondition)
        {
            // The previous owner's consumer is still attached (it has not noticed it lost the lease); retry next tick.
            LogConsumerBusy(Logger, slot.Number, SiloId);
        }
    }

    /// <summary>Gives a shard up at once: stop its consumer, drop its activations without running them further.</summary>
    private async Task LoseAsync(ShardSlot slot, string reason)
    {
        if (Interlocked.CompareExchange(ref _slots[slot.Number], null, slot) != slot)
        {
            return;
        }

        slot.MarkLost();
        LogLost(Logger, SiloId, slot.Number, slot.Lease.Epoch, reason);
        foreach (var activation in _activations.Values)
        {
            if (activation.Shard == slot)
            {
                activation.Deactivate(DeactivationReason.ShardLost);
            }
        }

        if (slot.Consumer is { } consumer)
        {
            await DisposeQuietlyAsync(consumer).ConfigureAwait(false);
        }

        ShardsChanged?.Invoke(this);
    }

    /// <summary>Gives a shard to whoever takes it next: stop consuming, deactivate its grains cleanly, release the lease.</summary>
    private async Task HandOverAsync(ShardSlot slot)
    {
        await _shardChanges.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _slots[slot.Number]) != slot)
            {
                return;
            }

            slot.HandingOver = true;
            if (slot.Consumer is { } consumer)
            {
                await DisposeQuietlyAsync(consumer).ConfigureAwait(false);
            }

            var leaving = new List<Task>();
            foreach (var activation in _activations.Values)
            {
                if (activation.Shard == slot)
                {
                    activation.Deactivate(DeactivationReason.ShardHandedOver);
                    leaving.Add(activation.Gone);
                }
            }

            await Task.WhenAll(leaving).WaitAsync(Options.CallTimeout).ConfigureAwait(false);
            Interlocked.CompareExchange(ref _slots[slot.Number], null, slot);
            slot.MarkLost();
            try
            {
                await _store.Leases.ReleaseAsync(slot.Lease).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogReleaseFailed(Logger, slot.Number, SiloId, e.Message);
            }

            LogHandedOver(Logger, SiloId, slot.Number);
        }
        catch (TimeoutException)
        {
            await LoseAsync(slot, "its grains did not deactivate in time").ConfigureAwait(false);
        }
        finally
        {
            _shardChanges.Release();
        }

        ShardsChanged?.Invoke(this);
    }

    // ---------------------------------------------------------------- idle collection and reminders

    private async Task CollectLoopAsync()
    {
        using var timer = new PeriodicTimer(Options.CollectionInterval, Time);
        while (await WaitTickAsync(timer).ConfigureAwait(false))
        {
            CollectIdle();
        }
    }

    /// <summary>Deactivates every activation idle longer than <see cref="GrainsOptions.IdleTimeout"/>; returns how many.</summary>
    internal int CollectIdle()
    {
        var now = Time.GetTimestamp();
        var idle = Ticks(Options.IdleTimeout);
        var collected = 0;
        foreach (var activation in _activations.Values)
        {
            if (activation.IsIdle(now, idle))
            {
                activation.Deactivate(DeactivationReason.Idle);
                collected++;
            }
        }

        return collected;
    }

    private async Task ReminderLoopAsync()
    {
        using var timer = new PeriodicTimer(Options.ReminderInterval, Time);
        while (await WaitTickAsync(timer).ConfigureAwait(false))
        {
            for (var i = 0; i < _slots.Length; i++)
            {
                if (Volatile.Read(ref _slots[i]) is { } slot && slot.AcceptsWork(Time.GetTimestamp()))
                {
                    Reminders.FireDue(slot, _stop.Token);
                }
            }
        }
    }

    internal ShardSlot? SlotFor(GrainId id) => Volatile.Read(ref _slots[id.ShardOf(Options.Shards)]);

    // ---------------------------------------------------------------- helpers

    private async Task<bool> WaitTickAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task WaitLoopsAsync()
    {
        try
        {
            await Task.WhenAll(_balancing, _collecting, _reminding).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogBalanceFailed(Logger, SiloId, e.Message);
        }
    }

    private static string NewSiloId(GrainsOptions options)
    {
        var name = options.SiloName.Length > 0 ? options.SiloName : Environment.MachineName.ToLowerInvariant();
        return $"{name}-{Guid.NewGuid().ToString("N")[..10]}";
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Time.TimestampFrequency);

    private async Task DisposeQuietlyAsync(Subscription consumer)
    {
        try
        {
            await consumer.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogConsumerStopFailed(Logger, consumer.Topic, e.Message);
        }
    }

    [LoggerMessage(EventId = 1310, Level = LogLevel.Information, Message = "Silo {Silo} joined the cluster ({Shards} shards)")]
    private static partial void LogStarted(ILogger logger, string silo, int shards);

    [LoggerMessage(EventId = 1311, Level = LogLevel.Information, Message = "Silo {Silo} left the cluster")]
    private static partial void LogStopped(ILogger logger, string silo);

    [LoggerMessage(EventId = 1312, Level = LogLevel.Information, Message = "Silo {Silo} took shard {Shard} (epoch {Epoch})")]
    private static partial void LogTook(ILogger logger, string silo, int shard, long epoch);

    [LoggerMessage(EventId = 1313, Level = LogLevel.Warning, Message = "Silo {Silo} lost shard {Shard} (epoch {Epoch}): {Reason}")]
    private static partial void LogLost(ILogger logger, string silo, int shard, long epoch, string reason);

    [LoggerMessage(EventId = 1314, Level = LogLevel.Information, Message = "Silo {Silo} handed shard {Shard} over")]
    private static partial void LogHandedOver(ILogger logger, string silo, int shard);

    [LoggerMessage(EventId = 1315, Level = LogLevel.Warning, Message = "Silo {Silo}: balancing failed, retrying: {Reason}")]
    private static partial void LogBalanceFailed(ILogger logger, string silo, string reason);

    [LoggerMessage(EventId = 1316, Level = LogLevel.Warning, Message = "Renewing the lease of shard {Shard} on silo {Silo} failed, retrying: {Reason}")]
    private static partial void LogRenewFailed(ILogger logger, int shard, string silo, string reason);

    [LoggerMessage(EventId = 1317, Level = LogLevel.Warning, Message = "Releasing the lease of shard {Shard} on silo {Silo} failed (it will expire): {Reason}")]
    private static partial void LogReleaseFailed(ILogger logger, int shard, string silo, string reason);

    [LoggerMessage(EventId = 1318, Level = LogLevel.Information, Message = "Shard {Shard}'s queue still has a consumer from its previous owner; silo {Silo} retries")]
    private static partial void LogConsumerBusy(ILogger logger, int shard, string silo);

    [LoggerMessage(EventId = 1319, Level = LogLevel.Error, Message = "Silo {Silo} was declared dead by the cluster; it gives up its shards and rejoins under a new id")]
    private static partial void LogDeclaredDead(ILogger logger, string silo);

    [LoggerMessage(EventId = 1320, Level = LogLevel.Warning, Message = "Silo {Dead} missed its heartbeats; silo {Silo} declared it dead")]
    private static partial void LogMarkedDead(ILogger logger, string dead, string silo);

    [LoggerMessage(EventId = 1321, Level = LogLevel.Warning, Message = "Stopping the consumer of {Topic} failed: {Reason}")]
    private static partial void LogConsumerStopFailed(ILogger logger, string topic, string reason);
}
