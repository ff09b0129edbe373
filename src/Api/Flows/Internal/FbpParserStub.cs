namespace Trellis.Flows.Graphs;

// Placeholder until the parser branch is merged; removed then.
internal static class FbpParser
{
    public static FlowGraph Parse(string text) => throw new Trellis.Core.Errors.TrellisException(Trellis.Core.Errors.ErrorKind.Unimplemented, "the .fbp parser is not merged yet");
}
