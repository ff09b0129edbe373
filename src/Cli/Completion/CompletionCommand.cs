using System.CommandLine;

namespace Trellis.Cli;

/// <summary><c>trellis completion bash|zsh|fish|pwsh</c>: prints a script that completes <c>trellis</c> command lines by
/// asking the CLI itself through System.CommandLine's <c>[suggest:POSITION] "LINE"</c> directive (what dotnet-suggest's
/// shims do, without dotnet-suggest).</summary>
internal static class CompletionCommand
{
    public static Command Create()
    {
        var shell = new Argument<string>("shell") { Description = "bash, zsh, fish or pwsh" };
        shell.AcceptOnlyFromAmong("bash", "zsh", "fish", "pwsh");
        var command = new Command("completion", "Print a shell completion script: eval \"$(trellis completion bash)\", or add it to your shell's profile") { shell };
        command.SetAction(async (parse, _) =>
        {
            await parse.InvocationConfiguration.Output.WriteAsync(Script(parse.GetValue(shell)!));
            return CliApp.Ok;
        });
        return command;
    }

    public static string Script(string shell) => shell switch
    {
        "bash" => """
            # trellis completion for bash: eval "$(trellis completion bash)"
            _trellis_complete() {
              local IFS=$'\n'
              COMPREPLY=($(trellis "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null))
            }
            complete -o default -F _trellis_complete trellis

            """,
        "zsh" => """
            # trellis completion for zsh: eval "$(trellis completion zsh)"
            _trellis_complete() {
              local -a completions
              completions=("${(@f)$(trellis "[suggest:${CURSOR}]" "${BUFFER}" 2>/dev/null)}")
              compadd -- "${completions[@]}"
            }
            compdef _trellis_complete trellis

            """,
        "fish" => """
            # trellis completion for fish: trellis completion fish | source
            function __trellis_complete
                set -l line (commandline -cp)
                trellis "[suggest:"(string length -- "$line")"]" "$line" 2>/dev/null
            end
            complete -c trellis -f -a '(__trellis_complete)'

            """,
        _ => """
            # trellis completion for PowerShell: trellis completion pwsh | Out-String | Invoke-Expression
            Register-ArgumentCompleter -Native -CommandName trellis -ScriptBlock {
                param($wordToComplete, $commandAst, $cursorPosition)
                trellis "[suggest:$cursorPosition]" "$commandAst" 2>$null | ForEach-Object {
                    [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
                }
            }

            """,
    };
}
