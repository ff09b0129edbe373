using Microsoft.Extensions.Logging;
using Trellis.Core.Persistence;
using Trellis.Storage.Postgres;
using Trellis.Storage.Sqlite;

namespace Trellis.Storage;

/// <summary>Opens the state store that configuration names.</summary>
public static class StateStores
{
    /// <summary>Validates <paramref name="options"/> and opens the chosen store, creating or migrating its schema.</summary>
    /// <param name="timeProvider">The clock of the in-memory and SQLite stores; PostgreSQL uses the server clock.</param>
    public static async Task<IStateStore> OpenAsync(StorageOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options.Provider switch
        {
            StateStoreProvider.InMemory => new InMemoryStateStore(timeProvider, options.InMemory),
            StateStoreProvider.Sqlite => await SqliteStateStore.OpenAsync(options.Sqlite, timeProvider, loggerFactory, cancellationToken).ConfigureAwait(false),
            _ => await PostgresStateStore.OpenAsync(options.Postgres, loggerFactory, cancellationToken).ConfigureAwait(false),
        };
    }
}
