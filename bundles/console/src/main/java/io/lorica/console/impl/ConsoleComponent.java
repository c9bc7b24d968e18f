package io.lorica.console.impl;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.servlet.Servlet;

import io.lorica.config.LayeredConfiguration;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.http.whiteboard.HttpWhiteboardConstants;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes the Lorica console servlet on the HTTP whiteboard at the configured path. A path change through Config
 * Admin moves the servlet without a restart.
 */
@Component(service = {}, immediate = true, configurationPid = ConsoleComponent.PID)
@Designate(ocd = ConsoleComponent.Config.class)
public final class ConsoleComponent {

    static final String PID = "io.lorica.console";
    static final String SCOPE = "console";
    static final Map<String, Object> DEFAULTS = Map.of("path", "/lorica");
    private static final String ORT_RUNTIME = "io.lorica.ort.OrtRuntime";
    private static final Logger LOG = LoggerFactory.getLogger(ConsoleComponent.class);

    @ObjectClassDefinition(name = "Lorica console",
            description = "Web console and REST API of Lorica. System property lorica.console.path and environment variable LORICA_CONSOLE_PATH override the path.")
    @interface Config {
        @AttributeDefinition(name = "Path", description = "Context-relative path of the console; the REST API lives under <path>/api")
        String path() default "/lorica";
    }

    private BundleContext context;
    private ServiceRegistration<Servlet> registration;
    private volatile String path;

    @Activate
    void activate(BundleContext context, Map<String, Object> properties) {
        this.context = context;
        this.path = path(properties);
        registration = context.registerService(Servlet.class, new ConsoleServlet(this::status), servletProperties(path));
        LOG.info("Lorica console at {}/ (status at {}/api/status)", path, path);
    }

    @Modified
    void modified(Map<String, Object> properties) {
        String next = path(properties);
        if (!next.equals(path)) {
            // a fresh registration rather than setProperties: Pax Web 8 keeps the old URL patterns of a servlet whose
            // service properties change
            registration.unregister();
            path = next;
            registration = context.registerService(Servlet.class, new ConsoleServlet(this::status), servletProperties(next));
            LOG.info("Lorica console moved to {}/", next);
        }
    }

    @Deactivate
    void deactivate() {
        try {
            registration.unregister();
        } catch (IllegalStateException alreadyGone) {
            // unregistered by the framework while the bundle stops
        }
    }

    static String path(Map<String, Object> properties) {
        LayeredConfiguration config = LayeredConfiguration.of(SCOPE, DEFAULTS, properties);
        String path = config.getString("path").trim();
        while (path.endsWith("/") && path.length() > 1) {
            path = path.substring(0, path.length() - 1);
        }
        if (!path.matches("(/[A-Za-z0-9._~-]+)+")) {
            throw new IllegalArgumentException("configuration " + PID + " key 'path' = '" + path
                    + "' is not valid: expected an absolute path such as /lorica, without wildcards or a trailing slash");
        }
        return path;
    }

    private static Dictionary<String, Object> servletProperties(String path) {
        Hashtable<String, Object> properties = new Hashtable<>();
        properties.put(HttpWhiteboardConstants.HTTP_WHITEBOARD_SERVLET_PATTERN, new String[] {path, path + "/*"});
        properties.put(HttpWhiteboardConstants.HTTP_WHITEBOARD_SERVLET_NAME, "lorica-console");
        return properties;
    }

    private String status() {
        List<StatusReport.BundleState> bundles = new ArrayList<>();
        Bundle[] all = context.getBundles();
        Arrays.sort(all, Comparator.comparing(b -> String.valueOf(b.getSymbolicName())));
        for (Bundle bundle : all) {
            String name = bundle.getSymbolicName();
            if (name != null && name.startsWith("io.lorica.")) {
                bundles.add(new StatusReport.BundleState(name, bundle.getVersion().toString(),
                        StatusReport.stateName(bundle.getState())));
            }
        }
        StatusReport.Runtime runtime = null;
        try {
            ServiceReference<?>[] references = context.getServiceReferences(ORT_RUNTIME, null);
            if (references != null && references.length > 0) {
                ServiceReference<?> ref = references[0];
                Object usable = ref.getProperty("lorica.execution.providers");
                runtime = new StatusReport.Runtime(String.valueOf(ref.getProperty("lorica.execution.provider")),
                        usable instanceof String[] array ? List.of(array) : List.of(),
                        String.valueOf(ref.getProperty("lorica.onnxruntime.version")),
                        String.valueOf(ref.getProperty("lorica.onnxruntime.flavour")));
            }
        } catch (org.osgi.framework.InvalidSyntaxException e) {
            throw new AssertionError("null filter is always valid", e);
        }
        Map<String, Object> doc = new LinkedHashMap<>(StatusReport.document(
                context.getBundle().getVersion().toString(), bundles, runtime));
        doc.put("console", path + "/");
        return Json.write(doc);
    }
}
