package io.lorica.itests;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import javax.inject.Inject;

import ai.onnxruntime.OrtProvider;
import io.lorica.ort.OrtRuntime;
import io.lorica.ort.SelfTest;
import org.apache.karaf.features.Feature;
import org.apache.karaf.features.FeaturesService;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.service.cm.Configuration.ConfigurationAttribute;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.runtime.ServiceComponentRuntime;
import org.osgi.service.component.runtime.dto.ComponentConfigurationDTO;
import org.osgi.service.component.runtime.dto.ComponentDescriptionDTO;
import org.osgi.service.component.runtime.dto.UnsatisfiedReferenceDTO;

/**
 * The Lorica distribution in a real Karaf: feature installed, every Lorica bundle active and every component
 * satisfied, the ONNX Runtime executing inside the container, configuration layering and live reconfiguration, the
 * console over HTTP, and bundles that stop, update and start again.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class LoricaContainerIT {

    /** Every Lorica bundle the 'lorica' feature must bring up; a new bundle module is added here. */
    static final Set<String> LORICA_BUNDLES = Set.of("io.lorica.api", "io.lorica.config", "io.lorica.onnxruntime",
            "io.lorica.models", "io.lorica.loader", "io.lorica.policy", "io.lorica.engine", "io.lorica.testkit",
            "io.lorica.pipelines", "io.lorica.console");

    /** Components made once per factory configuration: none exist until such a configuration is created. */
    static final Set<String> PER_FACTORY_CONFIGURATION = Set.of("io.lorica.pipelines.component.ConfiguredPipeline");

    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @Inject
    private BundleContext context;

    @Inject
    private FeaturesService features;

    @Inject
    private ConfigurationAdmin configurationAdmin;

    @Inject
    private ServiceComponentRuntime scr;

    @Configuration
    public Option[] configuration() {
        // the system-property layer: must win over etc/io.lorica.onnxruntime.cfg (inter.op.threads = 0)
        return LoricaKaraf.options(systemProperty("lorica.onnxruntime.inter.op.threads").value("2"));
    }

    @Test
    public void loricaFeature_isInstalled() throws Exception {
        Feature lorica = features.getFeature("lorica");
        assertNotNull("feature 'lorica' is not known to Karaf", lorica);
        assertTrue("feature 'lorica' is not installed", features.isInstalled(lorica));
        for (String part : List.of("lorica-api", "lorica-config", "lorica-onnxruntime", "lorica-models", "lorica-loader", "lorica-policy", "lorica-engine", "lorica-pipelines", "lorica-console")) {
            assertTrue("feature " + part + " is not installed", features.isInstalled(features.getFeature(part)));
        }
    }

    @Test
    public void everyLoricaBundle_isActive() {
        Map<String, String> states = new TreeMap<>();
        for (Bundle bundle : context.getBundles()) {
            if (bundle.getSymbolicName() != null && bundle.getSymbolicName().startsWith("io.lorica.")) {
                states.put(bundle.getSymbolicName(), state(bundle.getState()));
            }
        }
        assertEquals("Lorica bundles in the container", new TreeSet<>(LORICA_BUNDLES), states.keySet());
        states.forEach((name, state) -> assertEquals("state of " + name + " (all: " + states + ")", "ACTIVE", state));
    }

    @Test
    public void everyLoricaComponent_isSatisfied() {
        List<String> problems = new ArrayList<>();
        int components = 0;
        for (Bundle bundle : context.getBundles()) {
            if (bundle.getSymbolicName() == null || !bundle.getSymbolicName().startsWith("io.lorica.")) {
                continue;
            }
            for (ComponentDescriptionDTO description : scr.getComponentDescriptionDTOs(bundle)) {
                components++;
                if (!scr.isComponentEnabled(description)) {
                    problems.add(description.name + " is disabled");
                    continue;
                }
                var configurations = scr.getComponentConfigurationDTOs(description);
                if (configurations.isEmpty() && !PER_FACTORY_CONFIGURATION.contains(description.name)) {
                    problems.add(description.name + " has no configuration (configuration policy " + description.configurationPolicy + ")");
                }
                for (ComponentConfigurationDTO configuration : configurations) {
                    if (configuration.state != ComponentConfigurationDTO.ACTIVE && configuration.state != ComponentConfigurationDTO.SATISFIED) {
                        List<String> missing = new ArrayList<>();
                        for (UnsatisfiedReferenceDTO reference : configuration.unsatisfiedReferences) {
                            missing.add(reference.name + " (" + reference.target + ")");
                        }
                        problems.add(description.name + " is in state " + configuration.state + ", unsatisfied " + missing
                                + (configuration.failure == null ? "" : ", failure: " + configuration.failure));
                    }
                }
            }
        }
        assertTrue("no Declarative Services components found in the Lorica bundles", components >= 2);
        assertTrue("unsatisfied Lorica components: " + problems, problems.isEmpty());
    }

    @Test
    public void onnxRuntime_runsASessionOnCpuInsideTheContainer() {
        OrtRuntime runtime = runtime();
        assertEquals("1.29.0", runtime.version());
        if (runtime.flavour().equals("cpu")) {
            assertEquals(OrtProvider.CPU, runtime.selectedProvider());
            assertTrue("fallback reason: " + runtime.fallbackReason(), runtime.fallbackReason().orElse("").contains("no CUDA execution provider"));
        } else {
            // the CUDA build: CUDA where a GPU answers, otherwise CPU with ONNX Runtime's reason
            assertTrue("provider " + runtime.selectedProvider() + ", reason " + runtime.fallbackReason(),
                    runtime.selectedProvider() == OrtProvider.CUDA || runtime.fallbackReason().orElse("").startsWith("CUDA unavailable: CUDA device 0"));
        }
        SelfTest result = runtime.selfTest();
        assertTrue("self-test error " + result.maxAbsError(), result.maxAbsError() <= 1e-6);
        assertTrue("natives unpacked into the bundle data area: " + runtime.nativeDirectory(),
                runtime.nativeDirectory().toString().contains("natives" + java.io.File.separator + "1.29.0-" + runtime.flavour()));
    }

    @Test
    public void systemProperty_overridesTheCfgFile() {
        OrtRuntime runtime = runtime();
        assertEquals(2, runtime.settings().interOpThreads());
        assertEquals(2, reference().getProperty("inter.op.threads"));
    }

    @Test
    public void configAdminChange_appliesWithoutRestart() throws Exception {
        Bundle ort = bundle("io.lorica.onnxruntime");
        long started = ort.getLastModified();
        org.osgi.service.cm.Configuration configuration = configurationAdmin.getConfiguration("io.lorica.onnxruntime", "?");
        Dictionary<String, Object> original = configuration.getProperties();
        assertNotNull("etc/io.lorica.onnxruntime.cfg was not loaded into Config Admin", original);
        assertFalse(configuration.getAttributes().contains(ConfigurationAttribute.READ_ONLY));
        Dictionary<String, Object> changed = copy(original);
        changed.put("intra.op.threads", "3");
        changed.put("optimization", "basic");
        configuration.update(changed);
        try {
            Poll.until(TIMEOUT, "intra.op.threads = 3 on the running OrtRuntime",
                    () -> runtime().settings().intraOpThreads() == 3 && Integer.valueOf(3).equals(reference().getProperty("intra.op.threads")));
            assertEquals("BASIC_OPT", reference().getProperty("optimization"));
            assertEquals("the bundle was not restarted", started, ort.getLastModified());
            assertEquals(Bundle.ACTIVE, ort.getState());
        } finally {
            configuration.update(original);
            Poll.until(TIMEOUT, "original ONNX Runtime configuration back", () -> runtime().settings().intraOpThreads() == 0);
        }
    }

    @Test
    public void console_servesStatusAndMovesWhenItsPathChanges() throws Exception {
        Poll.until(TIMEOUT, "console status at /lorica/api/status", () -> Http.get("/lorica/api/status").status() == 200);
        Http.Response status = Http.get("/lorica/api/status");
        assertTrue(status.body(), status.body().contains("\"ready\":true"));
        assertTrue(status.body(), status.body().contains("\"provider\":\"" + runtime().selectedProvider().name() + "\""));
        assertEquals(200, Http.get("/lorica/").status());

        org.osgi.service.cm.Configuration configuration = configurationAdmin.getConfiguration("io.lorica.console", "?");
        Dictionary<String, Object> original = configuration.getProperties();
        Dictionary<String, Object> moved = copy(original);
        moved.put("path", "/admin/lorica");
        configuration.update(moved);
        try {
            Poll.until(TIMEOUT, "console moved to /admin/lorica", () -> Http.get("/admin/lorica/api/status").status() == 200);
            assertEquals(404, Http.get("/lorica/api/status").status());
        } finally {
            configuration.update(original);
            Poll.until(TIMEOUT, "console back at /lorica", () -> Http.get("/lorica/api/status").status() == 200);
        }
    }

    @Test
    public void consoleBundle_stopUpdateStart_servesAgain() throws Exception {
        Bundle console = bundle("io.lorica.console");
        Poll.until(TIMEOUT, "console up", () -> Http.get("/lorica/api/status").status() == 200);
        console.stop();
        Poll.until(TIMEOUT, "console gone after stop", () -> Http.get("/lorica/api/status").status() == 404);
        console.update();
        console.start();
        Poll.until(TIMEOUT, "console back after update and start", () -> Http.get("/lorica/api/status").status() == 200);
        assertEquals(Bundle.ACTIVE, console.getState());
        everyLoricaComponent_isSatisfied();
    }

    @Test
    public void onnxRuntimeBundle_restart_bringsTheServiceBackAndReusesTheUnpackedNatives() throws Exception {
        Path natives = runtime().nativeDirectory();
        Path manifest = natives.resolve(".lorica-natives");
        FileTime unpacked = Files.getLastModifiedTime(manifest);
        Bundle ort = bundle("io.lorica.onnxruntime");
        ort.stop();
        assertNull("OrtRuntime still registered after stop", context.getServiceReference(OrtRuntime.class));
        ort.start();
        Poll.until(TIMEOUT, "OrtRuntime back after start", () -> context.getServiceReference(OrtRuntime.class) != null);
        OrtRuntime again = runtime();
        assertEquals(natives, again.nativeDirectory());
        assertEquals("natives were copied again", unpacked, Files.getLastModifiedTime(manifest));
        assertTrue(again.selfTest().maxAbsError() <= 1e-6);
        Poll.until(TIMEOUT, "console sees the runtime again",
                () -> Http.get("/lorica/api/status").body().contains("\"ready\":true"));
    }

    @Test
    public void inferenceEngine_isAServiceOnTheContainersRuntime() {
        ServiceReference<io.lorica.api.engine.InferenceEngine> reference = context.getServiceReference(io.lorica.api.engine.InferenceEngine.class);
        assertNotNull("no InferenceEngine service", reference);
        io.lorica.api.engine.InferenceEngine engine = context.getService(reference);
        assertEquals(runtime().selectedProvider().name(), engine.provider().name());
        java.nio.file.Path missing = java.nio.file.Path.of(System.getProperty("karaf.base"), "no-such-model", "model.onnx");
        RuntimeException e = org.junit.Assert.assertThrows(RuntimeException.class,
                () -> engine.open(missing, io.lorica.api.engine.ModelRole.UNET));
        assertTrue(e.getMessage(), e.getMessage().contains("model.onnx"));
    }

    private Bundle bundle(String symbolicName) {
        for (Bundle bundle : context.getBundles()) {
            if (symbolicName.equals(bundle.getSymbolicName())) {
                return bundle;
            }
        }
        throw new AssertionError("bundle " + symbolicName + " is not installed");
    }

    private ServiceReference<OrtRuntime> reference() {
        ServiceReference<OrtRuntime> reference = context.getServiceReference(OrtRuntime.class);
        assertNotNull("no OrtRuntime service", reference);
        return reference;
    }

    private OrtRuntime runtime() {
        OrtRuntime runtime = context.getService(reference());
        assertNotNull("OrtRuntime service went away", runtime);
        return runtime;
    }

    private static Dictionary<String, Object> copy(Dictionary<String, Object> source) {
        Hashtable<String, Object> copy = new Hashtable<>();
        for (var keys = source.keys(); keys.hasMoreElements(); ) {
            String key = keys.nextElement();
            copy.put(key, source.get(key));
        }
        return copy;
    }

    private static String state(int state) {
        return switch (state) {
            case Bundle.ACTIVE -> "ACTIVE";
            case Bundle.RESOLVED -> "RESOLVED";
            case Bundle.INSTALLED -> "INSTALLED";
            case Bundle.STARTING -> "STARTING";
            case Bundle.STOPPING -> "STOPPING";
            default -> "UNINSTALLED";
        };
    }

}
