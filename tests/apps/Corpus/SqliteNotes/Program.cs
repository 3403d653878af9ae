using Microsoft.Data.Sqlite;

// SqliteNotes <database>: keeps one connection open, adds a note every 200 ms and prints the count.
using var connection = new SqliteConnection($"Data Source={args[0]}");
connection.Open();
using (SqliteCommand create = connection.CreateCommand())
{
    create.CommandText = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)";
    create.ExecuteNonQuery();
}

Console.WriteLine($"ready pid={Environment.ProcessId}");
for (long tick = 0; ; tick++)
{
    using SqliteCommand insert = connection.CreateCommand();
    insert.CommandText = "INSERT INTO notes (text) VALUES ($text)";
    insert.Parameters.AddWithValue("$text", $"note {tick}");
    insert.ExecuteNonQuery();
    using SqliteCommand count = connection.CreateCommand();
    count.CommandText = "SELECT COUNT(*) FROM notes";
    Console.WriteLine($"notes={count.ExecuteScalar()}");
    Thread.Sleep(200);
}
