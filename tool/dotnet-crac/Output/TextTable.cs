using System.Text;

namespace Crac.Tool.Output;

/// <summary>A plain, left-aligned table for the terminal; the last column is not padded.</summary>
internal sealed class TextTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public void Add(params string[] cells) => _rows.Add(cells);

    public override string ToString()
    {
        int[] widths = headers.Select((header, column) => _rows.Select(row => row[column].Length).Append(header.Length).Max()).ToArray();
        var text = new StringBuilder();
        foreach (string[] row in _rows.Prepend(headers))
        {
            for (int column = 0; column < row.Length; column++)
            {
                text.Append(column == row.Length - 1 ? row[column] : row[column].PadRight(widths[column] + 2));
            }

            text.Append('\n');
        }

        return text.ToString();
    }
}
