using Trellis.Cli;

return await CliApp.RunAsync(args);
