using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Hosting;
using Trellis.Grains.Apps;
using Trellis.Samples.Agents;

return await TrellisApp.RunAsync(
    args,
    "silo",
    "hosts grains; with no configuration, the all-in-one cluster on the in-process bus",
    builder => builder.Services.AddSingleton(new AppAgents().AddExamples()));
