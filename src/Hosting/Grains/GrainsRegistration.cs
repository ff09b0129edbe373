using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Core.Apps;
using Trellis.Core.Apps.Examples;
using Trellis.Core.Grains;
using Trellis.Core.Persistence;
using Trellis.Hosting.Configuration;
using Trellis.Hosting.Messaging;
using Trellis.Storage;

namespace Trellis.Hosting.Grains;

/// <summary>Registers the grain runtime: the state store, a grain client, and (in a silo) the silo itself.</summary>
public static class GrainsRegistration
{
    /// <summary>Adds <see cref="GrainTypes"/>, <see cref="IGrainClient"/> and, when <paramref name="hostSilo"/>, the state
    /// store (<c>Trellis:Storage</c>) and a <see cref="SiloRuntime"/> started with the host. Call after <c>AddTrellisMessaging</c>.</summary>
    public static IServiceCollection AddTrellisGrains(this IServiceCollection services, IConfiguration configuration, bool hostSilo)
    {
        var grains = ConfigurationBinding.Bind<GrainsOptions>(configuration, GrainsOptions.Section);
        try
        {
            grains.Validate();
        }
        catch (ArgumentException e)
        {
            throw new Core.Errors.TrellisException(Core.Errors.ErrorKind.InvalidArgument, e.Message);
        }

        services.AddSingleton(grains);
        services.AddSingleton(_ => new AppAgents().AddExamples());
        services.AddSingleton(sp =>
        {
            var types = new GrainTypes();
            sp.GetRequiredService<AppAgents>().RegisterGrain(types);
            return types;
        });
        services.AddSingleton<GrainClientHost>();
        services.AddSingleton<IGrainClient>(sp => sp.GetRequiredService<GrainClientHost>());
        if (hostSilo)
        {
            var storage = ConfigurationBinding.Bind<StorageOptions>(configuration, "Trellis:Storage");
            try
            {
                storage.Validate();
            }
            catch (ArgumentException e)
            {
                throw new Core.Errors.TrellisException(Core.Errors.ErrorKind.InvalidArgument, e.Message);
            }

            services.AddSingleton(storage);
            services.AddSingleton<SiloHost>();
            services.AddHostedService(sp => sp.GetRequiredService<SiloHost>());
        }

        return services;
    }
}

/// <summary>A grain client on the process's bus, usable once the bus has started.</summary>
public sealed class GrainClientHost(BusHost busHost, GrainsOptions options) : IGrainClient
{
    private GrainClient? _client;

    public async Task<Core.Messaging.Message> CallAsync(
        GrainId grain, string method, Core.Messaging.JsonPayload data, string? messageId = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        await (await ClientAsync(cancellationToken).ConfigureAwait(false)).CallAsync(grain, method, data, messageId, timeout, cancellationToken).ConfigureAwait(false);

    public async ValueTask<Core.Transport.PublishStatus> SendAsync(
        GrainId grain, string method, Core.Messaging.JsonPayload data, string? messageId = null, CancellationToken cancellationToken = default) =>
        await (await ClientAsync(cancellationToken).ConfigureAwait(false)).SendAsync(grain, method, data, messageId, cancellationToken).ConfigureAwait(false);

    private async ValueTask<GrainClient> ClientAsync(CancellationToken cancellationToken)
    {
        if (_client is { } client)
        {
            return client;
        }

        var bus = await busHost.Started.WaitAsync(cancellationToken).ConfigureAwait(false);
        return _client ??= new GrainClient(bus, options);
    }
}

/// <summary>Opens the state store and runs this process's silo with the host; hands its shards over on shutdown.</summary>
public sealed partial class SiloHost(
    BusHost busHost, StorageOptions storage, GrainsOptions options, GrainTypes types, TimeProvider time, ILoggerFactory loggers, IConfiguration configuration)
    : IHostedService, IAsyncDisposable
{
    private readonly string? activationLog = configuration["Trellis:Grains:ActivationLog"];
    private ActivationLog? _log;
    private readonly TaskCompletionSource<SiloRuntime> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IStateStore? _store;

    /// <summary>Completes when the silo has joined the cluster.</summary>
    public Task<SiloRuntime> Started => _started.Task;

    /// <summary>The state store, once open.</summary>
    public IStateStore? Store => _store;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            var bus = await busHost.Started.WaitAsync(cancellationToken);
            _store = await StateStores.OpenAsync(storage, time, loggers, cancellationToken);
            var silo = await SiloRuntime.StartAsync(bus, _store, types, options, time, loggers, cancellationToken);
            if (activationLog is { Length: > 0 })
            {
                _log = new ActivationLog(activationLog, time);
                silo.ActivationChanged += _log.Write;
            }

            LogSilo(loggers.CreateLogger<SiloHost>(), silo.SiloId, storage.Provider.ToString(), string.Join(", ", types.Names.Order()));
            _started.TrySetResult(silo);
        }
        catch (Exception e)
        {
            _started.TrySetException(e);
            throw;
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_started.Task.IsCompletedSuccessfully)
        {
            await _started.Task.Result.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _log?.Dispose();
        if (_store is not null)
        {
            await _store.DisposeAsync();
            _store = null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo {Silo} runs on the {Store} store with grain types: {Types}")]
    private static partial void LogSilo(ILogger logger, string silo, string store, string types);
}
