// An unmodified Java program for `sockscope run -- java ClientsGet.java URL`: one GET with
// HttpURLConnection, which takes the proxy and the trust store from the system properties that
// sockscope puts in JAVA_TOOL_OPTIONS. Prints {"status": N, "body": "...", "proxied": true|false}.
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;

public class ClientsGet {
    public static void main(String[] args) throws Exception {
        HttpURLConnection c = (HttpURLConnection) new URL(args[0]).openConnection();
        c.setConnectTimeout(20000);
        c.setReadTimeout(20000);
        int status = c.getResponseCode();
        String body = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String escaped = body.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
        System.out.println("{\"status\": " + status + ", \"body\": \"" + escaped + "\", \"proxied\": " + c.usingProxy() + "}");
    }
}
