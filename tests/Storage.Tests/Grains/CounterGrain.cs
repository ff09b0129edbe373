using Orleans;
using Orleans.Runtime;

namespace Trellis.Storage.Tests.Grains;

/// <summary>A grain whose total is persistent state in the silo's default storage provider.</summary>
public interface ICounterGrain : IGrainWithStringKey
{
    Task<int> Add(int amount);

    Task<int> Get();

    /// <summary>The address of the silo the activation runs on.</summary>
    Task<string> Silo();
}

[GenerateSerializer]
public sealed class CounterState
{
    [Id(0)]
    public int Total { get; set; }

    [Id(1)]
    public List<int> Amounts { get; set; } = [];
}

public sealed class CounterGrain([PersistentState("counter")] IPersistentState<CounterState> state, ILocalSiloDetails silo) : Grain, ICounterGrain
{
    public async Task<int> Add(int amount)
    {
        state.State.Total += amount;
        state.State.Amounts.Add(amount);
        await state.WriteStateAsync();
        return state.State.Total;
    }

    public Task<int> Get() => Task.FromResult(state.State.Total);

    public Task<string> Silo() => Task.FromResult(silo.SiloAddress.ToString());
}
