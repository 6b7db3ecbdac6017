// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// The JDK's own HTTP server and client, run as a single source file:
//   java HttpFile.java server HOST PORT FILE COUNT  serve FILE at /file, exit after COUNT responses
//   java HttpFile.java client URL                   GET with HttpURLConnection, print sha256 and length
import com.sun.net.httpserver.HttpServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.CountDownLatch;

public class HttpFile {
    public static void main(String[] args) throws Exception {
        if (args.length == 5 && args[0].equals("server")) {
            serve(args[1], Integer.parseInt(args[2]), Path.of(args[3]), Integer.parseInt(args[4]));
        } else if (args.length == 2 && args[0].equals("client")) {
            fetch(args[1]);
        } else {
            System.err.println("usage: HttpFile server HOST PORT FILE COUNT | client URL");
            System.exit(2);
        }
    }

    static void serve(String host, int port, Path file, int count) throws Exception {
        CountDownLatch served = new CountDownLatch(count);
        HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
        server.createContext("/file", exchange -> {
            exchange.sendResponseHeaders(200, Files.size(file));
            try (OutputStream out = exchange.getResponseBody()) {
                Files.copy(file, out);
            }
            served.countDown();
        });
        server.start();
        System.out.println("listening");
        served.await();
        server.stop(1);
    }

    static void fetch(String url) throws Exception {
        HttpURLConnection conn = (HttpURLConnection) new URL(url).openConnection();
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        long length = 0;
        try (InputStream in = conn.getInputStream()) {
            byte[] buf = new byte[65536];
            for (int n; (n = in.read(buf)) > 0; length += n)
                sha.update(buf, 0, n);
        }
        if (conn.getResponseCode() != 200)
            throw new IllegalStateException("HTTP " + conn.getResponseCode());
        System.out.println(HexFormat.of().formatHex(sha.digest()) + " " + length);
    }
}
