package io.lorica.policy.registry;

import io.lorica.api.registry.FuseBackend;

import static io.lorica.policy.registry.StubLoader.ref;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterFormatException;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.registry.AdapterInfo;
import io.lorica.api.registry.AdapterRegistryEvent;
import io.lorica.api.registry.AdapterRegistryEvent.Kind;
import io.lorica.api.registry.FuseRequest;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class DefaultAdapterRegistryTest {

    private StubLoader loader;
    private RecordingBackend backend;
    private DefaultAdapterRegistry registry;
    private List<AdapterRegistryEvent> events;

    @BeforeEach
    void setUp() {
        loader = new StubLoader()
                .with("a.safetensors", TestAdapters::unet)
                .with("b.safetensors", TestAdapters::unetAndTe)
                .with("c.safetensors", TestAdapters::textEncoders)
                .with("d.safetensors", TestAdapters::everywhere)
                .with("empty.safetensors", TestAdapters::empty)
                .broken("broken.safetensors");
        backend = new RecordingBackend();
        registry = new DefaultAdapterRegistry("sd15-main", ModelFamily.SD15, loader, backend);
        events = new CopyOnWriteArrayList<>();
        registry.addListener(events::add);
    }

    private DefaultAdapterRegistry sdxl() {
        DefaultAdapterRegistry xl = new DefaultAdapterRegistry("sdxl-main", ModelFamily.SDXL, loader, backend);
        xl.addListener(events::add);
        return xl;
    }

    private void loadABC() {
        registry.load(ref("a.safetensors"), "A");
        registry.load(ref("b.safetensors"), "B");
        registry.load(ref("c.safetensors"), "C");
        events.clear();
    }

    private static AdapterWeight.Uniform w(double value) {
        return AdapterWeight.of(value);
    }

    private List<Kind> kinds() {
        return events.stream().map(AdapterRegistryEvent::kind).toList();
    }

    @Nested
    class Construction {

        @Test
        void rejectsMissingArguments() {
            assertThrows(IllegalArgumentException.class,
                    () -> new DefaultAdapterRegistry(" ", ModelFamily.SD15, loader, backend));
            assertThrows(IllegalArgumentException.class,
                    () -> new DefaultAdapterRegistry("p", null, loader, backend));
            assertThrows(IllegalArgumentException.class,
                    () -> new DefaultAdapterRegistry("p", ModelFamily.SD15, null, backend));
            assertThrows(IllegalArgumentException.class,
                    () -> new DefaultAdapterRegistry("p", ModelFamily.SD15, loader, null));
        }

        @Test
        void startsEmptyEnabledWithCallScaleOne() {
            assertEquals("sd15-main", registry.pipelineId());
            assertEquals(ModelFamily.SD15, registry.family());
            assertEquals(AdapterSettings.none(), registry.defaults());
            assertTrue(registry.adapters().isEmpty());
            assertTrue(registry.getActiveAdapters().isEmpty());
            assertTrue(registry.getListAdapters().isEmpty());
            assertTrue(registry.getFusedAdapters().isEmpty());
            assertEquals(0, registry.snapshot().version());
        }
    }

    @Nested
    class Load {

        @Test
        void loadedAdapterIsTheOnlyActiveOneWithWeightOne() {
            AdapterInfo a = registry.load(ref("a.safetensors"), "A");
            assertEquals("A", a.name());
            assertTrue(a.active());
            assertFalse(a.fused());
            assertEquals(Map.of(Component.UNET, 2), a.moduleCounts());
            assertEquals(ref("a.safetensors"), a.source());
            assertEquals(Map.of("A", AdapterWeight.ONE), registry.defaults().adapters());

            registry.load(ref("b.safetensors"), "B");
            assertEquals(List.of("B"), registry.getActiveAdapters());
            assertFalse(registry.adapter("A").orElseThrow().active());
            assertEquals(List.of(Kind.LOADED, Kind.LOADED), kinds());
            assertEquals(List.of("B"), events.get(1).adapterNames());
            assertEquals(registry.defaults(), events.get(1).defaults());
            assertEquals("sd15-main", events.get(1).pipelineId());
        }

        @Test
        void loadReplacesAnActiveSetAndKeepsCallScaleAndEnabledFlag() {
            loadABC();
            registry.setDefaults(new AdapterSettings(Map.of("A", w(0.3), "B", w(0.7)), 0.5, false));
            registry.load(ref("d.safetensors"), "D");
            assertEquals(new AdapterSettings(Map.of("D", AdapterWeight.ONE), 0.5, false), registry.defaults());
        }

        @Test
        void duplicateNameIsRejectedInDiffusersWordsAndLeavesTheRegistryUnchanged() { // acceptance A2
            registry.load(ref("a.safetensors"), "A");
            registry.load(ref("b.safetensors"), "B");
            RegistrySnapshot before = registry.snapshot();
            List<AdapterInfo> infos = registry.adapters();
            int loads = loader.calls.size();
            events.clear();

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.load(ref("d.safetensors"), "A"));
            assertEquals("Adapter name A already in use in the model - please select a new adapter name.",
                    e.getMessage());
            assertSame(before, registry.snapshot());
            assertEquals(infos, registry.adapters());
            assertSame(before.adapters().get("A"), registry.loadedAdapters().get("A"));
            assertEquals(loads, loader.calls.size(), "the name is checked before reading the file");
            assertTrue(events.isEmpty());
        }

        @Test
        void nameTakenWhileTheFileWasReadIsRejectedAtRegistration() {
            loader.duringLoad = () -> {
                loader.duringLoad = () -> { };
                registry.load(ref("b.safetensors"), "A");
            };
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.load(ref("a.safetensors"), "A"));
            assertEquals("Adapter name A already in use in the model - please select a new adapter name.",
                    e.getMessage());
            assertEquals(Set.of(Component.UNET, Component.TEXT_ENCODER),
                    registry.loadedAdapters().get("A").components(), "the first registration stays");
            assertEquals(1, registry.adapters().size());
        }

        @Test
        void autoNamesCountUpAndAreNeverReused() {
            assertEquals("default_0", registry.load(ref("a.safetensors")).name());
            assertEquals("default_1", registry.load(ref("b.safetensors")).name());
            registry.deleteAdapters(List.of("default_0", "default_1"));
            assertEquals("default_2", registry.load(ref("a.safetensors")).name());
            registry.load(ref("a.safetensors"), "default_3");
            assertEquals("default_4", registry.load(ref("c.safetensors")).name(), "a taken name is skipped");
            assertEquals(List.of("default_2", "default_3", "default_4"),
                    List.copyOf(registry.loadedAdapters().keySet()));
        }

        @Test
        void failedLoadRegistersNothingAndUsesUpNoName() {
            AdapterFormatException e = assertThrows(AdapterFormatException.class,
                    () -> registry.load(ref("broken.safetensors")));
            assertTrue(e.getMessage().contains("have not been correctly renamed"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> registry.load(ref("missing.safetensors"), "M"));
            assertTrue(registry.adapters().isEmpty());
            assertEquals(AdapterSettings.none(), registry.defaults());
            assertEquals(0, registry.snapshot().version());
            assertTrue(events.isEmpty());
            assertEquals("default_0", registry.load(ref("a.safetensors")).name());
        }

        @Test
        void fileWithNothingForThisModelIsRejected() {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.load(ref("empty.safetensors"), "E"));
            assertTrue(e.getMessage().contains("nothing in dir:empty.safetensors targets a layer of sd15"),
                    e.getMessage());
            assertTrue(registry.adapters().isEmpty());
        }

        @Test
        void invalidNameIsRejectedBeforeReading() {
            assertThrows(IllegalArgumentException.class, () -> registry.load(ref("a.safetensors"), "bad name"));
            assertThrows(IllegalArgumentException.class, () -> registry.load(null, "A"));
            assertTrue(loader.calls.isEmpty());
        }

        @Test
        void adapterConvertedForAnotherFamilyIsAnEngineError() {
            loader.with("xl.safetensors", f -> TestAdapters.unet(ModelFamily.SDXL));
            assertThrows(IllegalStateException.class, () -> registry.load(ref("xl.safetensors"), "X"));
            assertTrue(registry.adapters().isEmpty());
        }

        @Test
        void fileIsReadOutsideTheRegistryLock() throws Exception {
            registry.load(ref("a.safetensors"), "A");
            List<Boolean> idle = new ArrayList<>();
            loader.duringLoad = () -> {
                idle.add(registry.isIdle());
                // another thread can change the registry while this one reads a file
                CompletableFuture<Void> other = CompletableFuture.runAsync(() -> registry.disableLora());
                try {
                    other.get(10, TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new AssertionError("a registry change was blocked by a load", e);
                }
            };
            registry.load(ref("b.safetensors"), "B");
            assertEquals(List.of(true), idle);
            assertFalse(registry.defaults().enabled());
            assertEquals(List.of("B"), registry.getActiveAdapters());
        }

        @Test
        void sdxlLoadsForItsOwnFamily() {
            DefaultAdapterRegistry xl = sdxl();
            AdapterInfo c = xl.load(ref("c.safetensors"), "C");
            assertEquals(ModelFamily.SDXL, c.family());
            assertEquals(Map.of(Component.TEXT_ENCODER, 1, Component.TEXT_ENCODER_2, 2), c.moduleCounts());
        }
    }

    @Nested
    class SetAdapters {

        @Test
        void weightsAreAbsoluteNotCumulative() {
            loadABC();
            registry.setAdapters(List.of("A", "B"), List.of(w(0.3), w(0.7)));
            assertEquals(List.of("A", "B"), registry.getActiveAdapters());
            registry.setAdapters(List.of("B"), List.of(w(0.5)));
            assertEquals(Map.of("B", w(0.5)), registry.defaults().adapters());
            registry.setAdapters(List.of("A", "B"), List.of(w(0.3), w(0.7)));
            assertEquals(Map.of("A", w(0.3), "B", w(0.7)), registry.defaults().adapters());
            assertEquals(List.of(Kind.SETTINGS_CHANGED, Kind.SETTINGS_CHANGED, Kind.SETTINGS_CHANGED), kinds());
            assertEquals(List.of("A", "B"), events.get(2).adapterNames());
        }

        @Test
        void activationOrderIsKept() {
            loadABC();
            registry.setAdapters(List.of("C", "A"));
            assertEquals(List.of("C", "A"), registry.getActiveAdapters());
        }

        @Test
        void missingWeightsMeanOne() {
            loadABC();
            registry.setAdapters(List.of("A", "B"));
            assertEquals(Map.of("A", AdapterWeight.ONE, "B", AdapterWeight.ONE), registry.defaults().adapters());
            registry.setAdapters(List.of("A", "B"), Arrays.asList(null, w(0.2)));
            assertEquals(Map.of("A", AdapterWeight.ONE, "B", w(0.2)), registry.defaults().adapters());
        }

        @Test
        void lengthMismatchUsesDiffusersMessage() {
            loadABC();
            RegistrySnapshot before = registry.snapshot();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.setAdapters(List.of("A", "B"), List.of(w(0.5))));
            assertEquals("Length of adapter names 2 is not equal to the length of the weights 1", e.getMessage());
            assertSame(before, registry.snapshot());
        }

        @Test
        void unknownNamesUseDiffusersMessage() {
            loadABC();
            RegistrySnapshot before = registry.snapshot();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.setAdapters(List.of("A", "x", "y"), List.of(w(1), w(1), w(1))));
            assertEquals("Adapter name(s) {'x', 'y'} not in the list of present adapters: {'A', 'B', 'C'}.",
                    e.getMessage());
            assertSame(before, registry.snapshot());
            assertTrue(events.isEmpty());
        }

        @Test
        void unknownNameOnAnEmptyRegistry() {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.setAdapters(List.of("A")));
            assertEquals("Adapter name(s) {'A'} not in the list of present adapters: {}.", e.getMessage());
        }

        @Test
        void keepsCallScaleAndEnabledFlag() {
            loadABC();
            registry.setDefaults(new AdapterSettings(Map.of("A", w(1)), 0.25, false));
            registry.setAdapters(List.of("B"), List.of(w(0.4)));
            assertEquals(new AdapterSettings(Map.of("B", w(0.4)), 0.25, false), registry.defaults());
        }

        @Test
        void emptyListDeactivatesEverything() {
            loadABC();
            registry.setAdapters(List.of());
            assertTrue(registry.getActiveAdapters().isEmpty());
            assertFalse(registry.defaults().isEffective());
            assertTrue(registry.adapters().stream().noneMatch(AdapterInfo::active));
        }

        @Test
        void weightsMustFitTheFamily() {
            loadABC();
            AdapterWeight te2 = new AdapterWeight.PerComponent(Map.of(Component.TEXT_ENCODER_2, w(0.5)));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.setAdapters(List.of("A"), List.of(te2)));
            assertTrue(e.getMessage().contains("names component text_encoder_2, which is not part of sd15"),
                    e.getMessage());
            AdapterWeight sdxlVector = new AdapterWeight.BlockVector(1, 1, java.util.Collections.nCopies(12, 1.0),
                    Optional.empty());
            e = assertThrows(IllegalArgumentException.class,
                    () -> registry.setAdapters(List.of("A"), List.of(sdxlVector)));
            assertTrue(e.getMessage().contains("12 ratios, but sd15 vectors have 17 or 26"), e.getMessage());
            AdapterWeight override = new AdapterWeight.WithOverrides(w(1), List.of(new AdapterWeight.LayerOverride(
                    Optional.of(Component.TEXT_ENCODER_2), "q_proj", 0.5)));
            assertThrows(IllegalArgumentException.class, () -> registry.setAdapters(List.of("A"), List.of(override)));
            AdapterWeight sd15Vector = new AdapterWeight.BlockVector(1, 1, java.util.Collections.nCopies(17, 0.5),
                    Optional.of("half"));
            registry.setAdapters(List.of("A"), List.of(sd15Vector));
            assertEquals(Map.of("A", sd15Vector), registry.defaults().adapters());
        }

        @Test
        void nameListedTwiceIsRejected() {
            loadABC();
            assertThrows(IllegalArgumentException.class, () -> registry.setAdapters(List.of("A", "A")));
            assertTrue(events.isEmpty());
        }

        @Test
        void nullNamesAreRejected() {
            assertThrows(IllegalArgumentException.class, () -> registry.setAdapters(null, null));
        }
    }

    @Nested
    class DefaultsAndOverrides {

        @Test
        void setDefaultsReplacesTheWholeSnapshot() {
            loadABC();
            AdapterSettings preset = AdapterSettings.of(List.of("C", "A"), List.of(w(0.2), w(0.9))).withCallScale(0.75);
            registry.setDefaults(preset);
            assertEquals(preset, registry.defaults());
            assertEquals(List.of("C", "A"), registry.getActiveAdapters());
            assertEquals(List.of(Kind.SETTINGS_CHANGED), kinds());
            assertEquals(List.of("C", "A"), events.get(0).adapterNames());
        }

        @Test
        void setDefaultsChecksNames() {
            loadABC();
            AdapterSettings before = registry.defaults();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.setDefaults(new AdapterSettings(Map.of("Z", w(1)), 1, true)));
            assertEquals("Adapter name(s) {'Z'} not in the list of present adapters: {'A', 'B', 'C'}.",
                    e.getMessage());
            assertSame(before, registry.defaults());
            assertThrows(IllegalArgumentException.class, () -> registry.setDefaults(null));
        }

        @Test
        void readersKeepTheSnapshotTheyTook() {
            loadABC();
            registry.setAdapters(List.of("A"), List.of(w(0.3)));
            RegistrySnapshot taken = registry.snapshot();
            AdapterSettings settings = registry.defaults();
            registry.setAdapters(List.of("B"), List.of(w(0.9)));
            registry.deleteAdapters(List.of("A"));
            assertEquals(Map.of("A", w(0.3)), settings.adapters());
            assertEquals(Map.of("A", w(0.3)), taken.defaults().adapters());
            assertTrue(taken.adapters().containsKey("A"));
            assertFalse(registry.loadedAdapters().containsKey("A"));
            assertTrue(registry.snapshot().version() > taken.version());
        }

        @Test
        void requestOverridesAreCheckedButNeverStored() {
            loadABC();
            registry.setAdapters(List.of("A"), List.of(w(0.3)));
            events.clear();
            AdapterSettings defaults = registry.defaults();
            assertSame(defaults, registry.effective(Optional.empty()));

            AdapterSettings mine = new AdapterSettings(Map.of("B", w(0.6), "C", w(0.1)), 0.5, true);
            assertEquals(mine, registry.effective(Optional.of(mine)));
            AdapterSettings theirs = new AdapterSettings(Map.of(), 1, false);
            assertEquals(theirs, registry.effective(Optional.of(theirs)));
            assertSame(defaults, registry.defaults());
            assertTrue(events.isEmpty());

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.effective(Optional.of(new AdapterSettings(Map.of("Q", w(1), "A", w(1)), 1, true))));
            assertEquals("Adapter name(s) {'Q'} not in the list of present adapters: {'A', 'B', 'C'}.",
                    e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> registry.effective(null));
        }

        @Test
        void overrideIsCheckedAgainstTheSnapshotItIsResolvedIn() {
            loadABC();
            RegistrySnapshot old = registry.snapshot();
            registry.deleteAdapters(List.of("C"));
            AdapterSettings withC = AdapterSettings.of(List.of("C"), (List<AdapterWeight>) null);
            assertEquals(withC, old.effective(Optional.of(withC)));
            assertThrows(IllegalArgumentException.class, () -> registry.effective(Optional.of(withC)));
        }
    }

    @Nested
    class EnableDisable {

        @Test
        void disableKeepsAdaptersWeightsAndActiveList() {
            loadABC();
            registry.setAdapters(List.of("A", "B"), List.of(w(0.3), w(0.7)));
            registry.disableLora();
            assertFalse(registry.defaults().enabled());
            assertEquals(Map.of("A", w(0.3), "B", w(0.7)), registry.defaults().adapters());
            assertEquals(List.of("A", "B"), registry.getActiveAdapters(), "get_active_adapters ignores the flag");
            assertTrue(registry.adapter("A").orElseThrow().active());
            assertFalse(registry.defaults().isEffective());
            assertTrue(registry.snapshot().dynamicAdapters(Component.UNET, registry.defaults()).isEmpty());

            registry.enableLora();
            assertTrue(registry.defaults().enabled());
            assertEquals(Map.of("A", w(0.3), "B", w(0.7)), registry.defaults().adapters());
            assertEquals(List.of(Kind.SETTINGS_CHANGED, Kind.SETTINGS_CHANGED, Kind.SETTINGS_CHANGED), kinds());
            assertEquals(List.of(), events.get(1).adapterNames());
            assertFalse(events.get(1).defaults().enabled());
        }

        @Test
        void repeatedToggleIsANoOp() {
            loadABC();
            registry.enableLora();
            long version = registry.snapshot().version();
            registry.disableLora();
            registry.disableLora();
            assertEquals(version + 1, registry.snapshot().version());
            assertEquals(1, events.size());
        }
    }

    @Nested
    class Listing {

        @Test
        void listAdaptersPerComponentInLoadOrder() {
            DefaultAdapterRegistry xl = sdxl();
            xl.load(ref("d.safetensors"), "D");
            xl.load(ref("a.safetensors"), "A");
            xl.load(ref("c.safetensors"), "C");
            assertEquals(Map.of(
                    Component.UNET, List.of("D", "A"),
                    Component.TEXT_ENCODER, List.of("D", "C"),
                    Component.TEXT_ENCODER_2, List.of("D", "C")), xl.getListAdapters());
            assertEquals(List.of(Component.UNET, Component.TEXT_ENCODER, Component.TEXT_ENCODER_2),
                    List.copyOf(xl.getListAdapters().keySet()));
        }

        @Test
        void componentsWithoutAdaptersAreLeftOut() {
            registry.load(ref("a.safetensors"), "A");
            assertEquals(Map.of(Component.UNET, List.of("A")), registry.getListAdapters());
            registry.deleteAdapters(List.of("A"));
            assertEquals(Map.of(), registry.getListAdapters());
        }

        @Test
        void viewsAreImmutable() {
            loadABC();
            assertThrows(UnsupportedOperationException.class, () -> registry.loadedAdapters().remove("A"));
            assertThrows(UnsupportedOperationException.class, () -> registry.adapters().clear());
            assertThrows(UnsupportedOperationException.class, () -> registry.getListAdapters().clear());
            assertThrows(UnsupportedOperationException.class,
                    () -> registry.getListAdapters().get(Component.UNET).clear());
            assertThrows(UnsupportedOperationException.class, () -> registry.getActiveAdapters().add("A"));
            assertThrows(UnsupportedOperationException.class, () -> registry.getFusedAdapters().add("A"));
            assertThrows(UnsupportedOperationException.class, () -> registry.snapshot().fused().clear());
        }

        @Test
        void infosInLoadOrderWithFlags() {
            loadABC();
            registry.setAdapters(List.of("A", "C"));
            registry.fuseLora(new FuseRequest(Set.of(Component.UNET), 1, false, List.of("A")));
            List<AdapterInfo> infos = registry.adapters();
            assertEquals(List.of("A", "B", "C"), infos.stream().map(AdapterInfo::name).toList());
            assertEquals(List.of(true, false, true), infos.stream().map(AdapterInfo::active).toList());
            assertEquals(List.of(true, false, false), infos.stream().map(AdapterInfo::fused).toList());
            assertEquals(Optional.empty(), registry.adapter("Z"));
            assertEquals(infos.get(1), registry.adapter("B").orElseThrow());
            assertTrue(registry.toString().contains("fused=[A]"), registry.toString());
        }
    }

    @Nested
    class Delete {

        @Test
        void unknownNamesAreAnErrorAndNothingIsDeleted() {
            loadABC();
            RegistrySnapshot before = registry.snapshot();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.deleteAdapters(List.of("A", "nope")));
            assertEquals("Adapter name(s) {'nope'} not in the list of present adapters: {'A', 'B', 'C'}.",
                    e.getMessage());
            assertSame(before, registry.snapshot());
            assertTrue(events.isEmpty());
            assertThrows(IllegalArgumentException.class, () -> registry.deleteAdapters(null));
        }

        @Test
        void deletedActiveAdapterLeavesTheOthersActive() {
            loadABC();
            registry.setAdapters(List.of("A", "B"), List.of(w(0.3), w(0.7)));
            events.clear();
            registry.deleteAdapters(List.of("A"));
            assertEquals(Map.of("B", w(0.7)), registry.defaults().adapters());
            assertEquals(List.of("B", "C"), List.copyOf(registry.loadedAdapters().keySet()));
            assertEquals(List.of(Kind.DELETED), kinds());
            assertEquals(List.of("A"), events.get(0).adapterNames());
            assertEquals(registry.defaults(), events.get(0).defaults());
        }

        @Test
        void whenNoActiveAdapterRemainsTheAlphabeticallyFirstBecomesActive() {
            registry.load(ref("c.safetensors"), "zeta");
            registry.load(ref("b.safetensors"), "beta");
            registry.load(ref("a.safetensors"), "alpha");
            registry.setDefaults(new AdapterSettings(Map.of("alpha", w(0.4)), 0.5, true));
            events.clear();
            registry.deleteAdapters(List.of("alpha"));
            assertEquals(new AdapterSettings(Map.of("beta", AdapterWeight.ONE), 0.5, true), registry.defaults());
            assertEquals(List.of(Kind.DELETED, Kind.SETTINGS_CHANGED), kinds());
            assertEquals(List.of("beta"), events.get(1).adapterNames());
        }

        @Test
        void deletingAnInactiveAdapterActivatesNothing() {
            loadABC();
            registry.setAdapters(List.of());
            registry.deleteAdapters(List.of("A"));
            assertTrue(registry.getActiveAdapters().isEmpty());
        }

        @Test
        void deletingEverythingLeavesAnEmptyRegistry() {
            loadABC();
            registry.setAdapters(List.of("A", "B"));
            registry.deleteAdapters(List.of("C", "B", "A", "B"));
            assertTrue(registry.loadedAdapters().isEmpty());
            assertTrue(registry.getActiveAdapters().isEmpty());
            assertEquals(List.of("C", "B", "A"), events.get(events.size() - 1).adapterNames());
        }

        @Test
        void emptyListIsANoOp() {
            loadABC();
            long version = registry.snapshot().version();
            registry.deleteAdapters(List.of());
            assertEquals(version, registry.snapshot().version());
            assertTrue(events.isEmpty());
        }

        @Test
        void fusedAdapterIsUnfusedFirstAndTheOtherFusedOnesStay() {
            loadABC();
            registry.setAdapters(List.of("A", "B"), List.of(w(0.5), w(2)));
            registry.fuseLora(FuseRequest.defaults(ModelFamily.SD15));
            assertEquals(Map.of(Component.UNET, Map.of("A", 0.5f, "B", 2f), Component.TEXT_ENCODER,
                    Map.of("B", 2f)), backend.held());
            backend.calls.clear();
            events.clear();

            registry.deleteAdapters(List.of("B"));
            assertEquals(List.of(
                    new RecordingBackend.Call("fuse", EnumSet.of(Component.UNET), Map.of("A", 0.5f), false),
                    new RecordingBackend.Call("unfuse", EnumSet.of(Component.TEXT_ENCODER), Map.of(), false)),
                    backend.calls);
            assertEquals(Map.of(Component.UNET, Map.of("A", 0.5f)), backend.held());
            assertEquals(backend.held(), registry.snapshot().fused());
            assertEquals(Set.of("A"), registry.getFusedAdapters());
            assertEquals(List.of(Kind.UNFUSED, Kind.DELETED), kinds());
            assertEquals(List.of("B"), events.get(0).adapterNames());
        }

        @Test
        void failedUnfuseDeletesNothing() {
            loadABC();
            registry.setAdapters(List.of("B"));
            registry.fuseLora(FuseRequest.defaults(ModelFamily.SD15));
            RegistrySnapshot before = registry.snapshot();
            events.clear();
            backend.failure = () -> new IllegalStateException("device lost");
            backend.failWhen = call -> true;
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> registry.deleteAdapters(List.of("B")));
            assertEquals("device lost", e.getMessage());
            assertSame(before, registry.snapshot());
            assertTrue(events.isEmpty());
            assertEquals(before.fused(), backend.held());
        }

        @Test
        void deletingAnUnfusedAdapterNeedsNoEngine() {
            DefaultAdapterRegistry none = new DefaultAdapterRegistry("p", ModelFamily.SD15, loader, FuseBackend.NONE);
            none.load(ref("a.safetensors"), "A");
            none.deleteAdapters(List.of("A"));
            assertTrue(none.loadedAdapters().isEmpty());
        }
    }

    @Nested
    class Fuse {

        @Test
        void defaultRequestFusesTheActiveAdaptersWithLoraScaleTimesWeight() {
            loadABC();
            registry.setAdapters(List.of("B", "A"), List.of(w(0.5), w(2)));
            events.clear();
            registry.fuseLora(new FuseRequest(ModelFamily.SD15.components(), 0.5, true, List.of()));
            assertEquals(List.of(new RecordingBackend.Call("fuse", EnumSet.of(Component.UNET),
                            Map.of("B", 0.25f, "A", 1f), true),
                    new RecordingBackend.Call("fuse", EnumSet.of(Component.TEXT_ENCODER), Map.of("B", 0.25f), true)),
                    backend.calls);
            assertEquals(List.of("B", "A"), List.copyOf(registry.snapshot().fusedIn(Component.UNET).keySet()));
            assertEquals(Set.of("A", "B"), registry.getFusedAdapters());
            assertEquals(List.of("A", "B"), List.copyOf(registry.getFusedAdapters()), "load order");
            assertEquals(List.of(Kind.FUSED), kinds());
            assertEquals(List.of("B", "A"), events.get(0).adapterNames());
            assertEquals(backend.held(), registry.snapshot().fused());
        }

        @Test
        void adaptersWithTheSameTargetAreFusedInOneCall() {
            DefaultAdapterRegistry xl = sdxl();
            xl.load(ref("d.safetensors"), "D");
            xl.fuseLora(FuseRequest.defaults(ModelFamily.SDXL));
            assertEquals(List.of(new RecordingBackend.Call("fuse", ModelFamily.SDXL.components(),
                    Map.of("D", 1f), false)), backend.calls);
        }

        @Test
        void namedAdaptersAreFusedEvenWhenInactive() {
            loadABC();
            registry.setAdapters(List.of("C"), List.of(w(0.1)));
            registry.fuseLora(new FuseRequest(Set.of(Component.UNET), 2, false, List.of("A")));
            assertEquals(Map.of(Component.UNET, Map.of("A", 2f)), registry.snapshot().fused());
            assertEquals(List.of("C"), registry.getActiveAdapters(), "fusing does not change the active set");
        }

        @Test
        void componentsWithoutModulesOfTheAdapterAreSkipped() {
            loadABC();
            registry.fuseLora(new FuseRequest(Set.of(Component.UNET), 1, false, List.of("C")));
            assertTrue(backend.calls.isEmpty());
            assertTrue(registry.getFusedAdapters().isEmpty());
            assertTrue(events.isEmpty());
        }

        @Test
        void alreadyFusedAdaptersKeepTheirScale() {
            loadABC();
            registry.setAdapters(List.of("A"));
            registry.fuseLora(new FuseRequest(Set.of(Component.UNET), 0.5, false, List.of()));
            backend.calls.clear();
            registry.fuseLora(new FuseRequest(Set.of(Component.UNET), 3, false, List.of()));
            assertTrue(backend.calls.isEmpty(), "nothing new to fuse");
            registry.fuseLora(new FuseRequest(Set.of(Component.UNET), 3, false, List.of("A", "B")));
            assertEquals(List.of(new RecordingBackend.Call("fuse", EnumSet.of(Component.UNET),
                    Map.of("A", 0.5f, "B", 3f), false)), backend.calls, "the backend gets the whole fused set");
        }

        @Test
        void perComponentWeightsGiveComponentScalesAndLayerVaryingWeightsOne() {
            loadABC();
            AdapterWeight perComponent = new AdapterWeight.PerComponent(Map.of(
                    Component.UNET, new AdapterWeight.UnetBlocks(Optional.of(w(0.2)), Optional.empty(),
                            Optional.empty()),
                    Component.TEXT_ENCODER, w(0.25)));
            registry.setAdapters(List.of("B"), List.of(perComponent));
            registry.fuseLora(new FuseRequest(ModelFamily.SD15.components(), 2, false, List.of()));
            assertEquals(Map.of(Component.UNET, Map.of("B", 2f), Component.TEXT_ENCODER, Map.of("B", 0.5f)),
                    registry.snapshot().fused());
        }

        @Test
        void uniformWeightPerComponent() {
            AdapterWeight vector = new AdapterWeight.BlockVector(0.5, 0.8, java.util.Collections.nCopies(17, 0.4),
                    Optional.empty());
            assertEquals(0.2, DefaultAdapterRegistry.uniformWeight(vector, Component.TEXT_ENCODER).getAsDouble(),
                    1e-12);
            assertTrue(DefaultAdapterRegistry.uniformWeight(vector, Component.UNET).isEmpty());
            AdapterWeight overrides = new AdapterWeight.WithOverrides(w(0.7), List.of(new AdapterWeight.LayerOverride(
                    Optional.of(Component.UNET), "attn2", 0)));
            assertEquals(0.7, DefaultAdapterRegistry.uniformWeight(overrides, Component.TEXT_ENCODER).getAsDouble());
            assertTrue(DefaultAdapterRegistry.uniformWeight(overrides, Component.UNET).isEmpty());
            assertEquals(1.5, DefaultAdapterRegistry.uniformWeight(w(1.5), Component.UNET).getAsDouble());
        }

        @Test
        void componentChecksUseDiffusersMessages() {
            loadABC();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> registry.fuseLora(
                    new FuseRequest(Set.of(Component.UNET, Component.TEXT_ENCODER_2), 1, false, List.of())));
            assertEquals("text_encoder_2 is not found in self._lora_loadable_modules=['unet', 'text_encoder'].",
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> registry.unfuseLora(Set.of()));
            assertEquals("`components` cannot be an empty list.", e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> registry.unfuseLora(Set.of(Component.TEXT_ENCODER_2)));
            assertEquals("text_encoder_2 is not found in self._lora_loadable_modules=['unet', 'text_encoder'].",
                    e.getMessage());
            assertTrue(backend.calls.isEmpty());
        }

        @Test
        void unknownNamedAdapterIsAnError() {
            loadABC();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> registry.fuseLora(
                    new FuseRequest(Set.of(Component.UNET), 1, false, List.of("A", "ghost"))));
            assertEquals("Adapter name(s) {'ghost'} not in the list of present adapters: {'A', 'B', 'C'}.",
                    e.getMessage());
            assertTrue(backend.calls.isEmpty());
        }

        @Test
        void nothingActiveAndNothingNamedIsAnError() {
            loadABC();
            registry.setAdapters(List.of());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.fuseLora(FuseRequest.defaults(ModelFamily.SD15)));
            assertTrue(e.getMessage().startsWith("nothing to fuse: no adapter is active in pipeline sd15-main"),
                    e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> registry.fuseLora(null));
        }

        @Test
        void safeFusingFailureLeavesEverythingUnchanged() {
            loadABC();
            registry.setAdapters(List.of("A"));
            RegistrySnapshot before = registry.snapshot();
            events.clear();
            backend.failWhen = call -> call.safeFusing();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> registry.fuseLora(new FuseRequest(Set.of(Component.UNET), 1, true, List.of())));
            assertEquals("NaNs detected in the merged weights. The adapter broken seems to be broken",
                    e.getMessage());
            assertSame(before, registry.snapshot());
            assertTrue(registry.getFusedAdapters().isEmpty());
            assertTrue(events.isEmpty());
            assertEquals(Map.of(), backend.held());
        }

        @Test
        void failureInALaterComponentRestoresTheEarlierOnes() {
            loadABC();
            registry.setAdapters(List.of("A"));
            registry.fuseLora(FuseRequest.defaults(ModelFamily.SD15));
            RegistrySnapshot before = registry.snapshot();
            assertEquals(Map.of(Component.UNET, Map.of("A", 1f)), before.fused());
            backend.calls.clear();
            backend.failWhen = call -> call.components().contains(Component.TEXT_ENCODER)
                    && call.kind().equals("fuse");
            assertThrows(IllegalArgumentException.class, () -> registry.fuseLora(
                    new FuseRequest(ModelFamily.SD15.components(), 1, true, List.of("B"))));
            assertEquals(List.of(
                    new RecordingBackend.Call("fuse", EnumSet.of(Component.UNET), Map.of("A", 1f, "B", 1f), true),
                    new RecordingBackend.Call("fuse", EnumSet.of(Component.TEXT_ENCODER), Map.of("B", 1f), true),
                    new RecordingBackend.Call("fuse", EnumSet.of(Component.UNET), Map.of("A", 1f), false)),
                    backend.calls);
            assertSame(before, registry.snapshot());
            assertEquals(before.fused(), backend.held());
        }

        @Test
        void failedRollbackIsReportedAsSuppressed() {
            loadABC();
            registry.setAdapters(List.of("A", "B")); // unet {A, B}, text_encoder {B}: two calls
            backend.failure = () -> new IllegalStateException("out of device memory");
            backend.failWhen = call -> backend.calls.size() > 1; // the text encoder and the rollback fail
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> registry.fuseLora(FuseRequest.defaults(ModelFamily.SD15)));
            assertEquals(1, e.getSuppressed().length);
            assertTrue(registry.getFusedAdapters().isEmpty());
        }

        @Test
        void otherEngineFailuresBecomeIllegalStateExceptions() {
            loadABC();
            backend.failure = () -> new UnsupportedOperationException("fp8");
            backend.failWhen = call -> true;
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> registry.fuseLora(new FuseRequest(Set.of(Component.UNET), 1, false, List.of("A"))));
            assertTrue(e.getMessage().contains("fused weights of [unet] in pipeline sd15-main"), e.getMessage());
            assertTrue(e.getCause() instanceof UnsupportedOperationException);
        }

        @Test
        void withoutAnEngineFusingFailsNamingThePipeline() {
            DefaultAdapterRegistry none = new DefaultAdapterRegistry("p1", ModelFamily.SD15, loader, FuseBackend.NONE);
            none.load(ref("a.safetensors"), "A");
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> none.fuseLora(FuseRequest.defaults(ModelFamily.SD15)));
            assertEquals("fusing needs an inference engine; none is attached to pipeline p1", e.getMessage());
            assertTrue(none.getFusedAdapters().isEmpty());
            none.unfuseLora();
            assertThrows(IllegalStateException.class, () -> FuseBackend.NONE.unfuse(Set.of(Component.UNET)));
        }

        @Test
        void unfuseRestoresTheComponentsThatHaveSomethingFused() {
            loadABC();
            registry.setAdapters(List.of("B"));
            registry.fuseLora(FuseRequest.defaults(ModelFamily.SD15));
            backend.calls.clear();
            events.clear();

            registry.unfuseLora(Set.of(Component.TEXT_ENCODER));
            assertEquals(List.of(new RecordingBackend.Call("unfuse", EnumSet.of(Component.TEXT_ENCODER), Map.of(),
                    false)), backend.calls);
            assertEquals(Set.of("B"), registry.getFusedAdapters(), "still fused in the UNet");
            assertEquals(Map.of(Component.UNET, Map.of("B", 1f)), registry.snapshot().fused());

            registry.unfuseLora();
            assertTrue(registry.getFusedAdapters().isEmpty());
            assertEquals(Map.of(), backend.held());
            assertEquals(List.of(Kind.UNFUSED, Kind.UNFUSED), kinds());
            assertEquals(List.of("B"), events.get(1).adapterNames());

            backend.calls.clear();
            registry.unfuseLora();
            assertTrue(backend.calls.isEmpty(), "nothing fused: no engine call");
            assertEquals(2, events.size());
        }

        @Test
        void failedUnfuseKeepsTheRecord() {
            loadABC();
            registry.setAdapters(List.of("B"));
            registry.fuseLora(FuseRequest.defaults(ModelFamily.SD15));
            RegistrySnapshot before = registry.snapshot();
            backend.failure = () -> new IllegalStateException("busy");
            backend.failWhen = call -> true;
            assertThrows(IllegalStateException.class, () -> registry.unfuseLora());
            assertSame(before, registry.snapshot());
        }

        @Test
        void fusedAdapterKeepsApplyingWhileOthersAreDynamic() {
            loadABC();
            registry.setAdapters(List.of("A"));
            registry.fuseLora(new FuseRequest(Set.of(Component.UNET), 1, false, List.of()));
            registry.setAdapters(List.of("B", "A"));
            RegistrySnapshot s = registry.snapshot();
            assertEquals(Set.of("A"), registry.getFusedAdapters(), "set_adapters does not unfuse");
            assertEquals(List.of("B"), s.dynamicAdapters(Component.UNET, s.defaults()));
            assertEquals(List.of("B"), s.dynamicAdapters(Component.TEXT_ENCODER, s.defaults()));
            registry.setAdapters(List.of("C"));
            assertEquals(Set.of("A"), registry.getFusedAdapters(), "inactive but still fused");
            assertTrue(registry.adapter("A").orElseThrow().fused());
        }
    }

    @Nested
    class Listeners {

        @Test
        void throwingListenerIsLoggedAndTheOthersStillHearIt() {
            List<AdapterRegistryEvent> second = new ArrayList<>();
            registry.addListener(event -> {
                throw new IllegalStateException("listener bug");
            });
            registry.addListener(second::add);
            registry.load(ref("a.safetensors"), "A");
            assertEquals(1, events.size());
            assertEquals(1, second.size());
            assertEquals(1, registry.loadedAdapters().size());
        }

        @Test
        void removedListenerHearsNothingAndAddingTwiceDeliversOnce() {
            List<AdapterRegistryEvent> mine = new ArrayList<>();
            io.lorica.api.registry.AdapterRegistryListener listener = mine::add;
            registry.addListener(listener);
            registry.addListener(listener);
            registry.load(ref("a.safetensors"), "A");
            assertEquals(1, mine.size());
            registry.removeListener(listener);
            registry.disableLora();
            assertEquals(1, mine.size());
            assertThrows(IllegalArgumentException.class, () -> registry.addListener(null));
        }

        @Test
        void listenerMayChangeTheRegistryAndEventsStayInCommitOrder() {
            registry.addListener(event -> {
                if (event.kind() == Kind.LOADED && event.adapterNames().equals(List.of("A"))) {
                    registry.setAdapters(List.of("A"), List.of(AdapterWeight.of(0.5)));
                }
            });
            registry.load(ref("a.safetensors"), "A");
            assertEquals(List.of(Kind.LOADED, Kind.SETTINGS_CHANGED), kinds());
            assertEquals(Map.of("A", AdapterWeight.ONE), events.get(0).defaults().adapters());
            assertEquals(Map.of("A", w(0.5)), events.get(1).defaults().adapters());
        }

        @Test
        void eventsAreDeliveredOutsideTheLock() {
            List<Boolean> idle = new ArrayList<>();
            registry.addListener(event -> idle.add(registry.isIdle()));
            registry.load(ref("a.safetensors"), "A");
            registry.fuseLora(FuseRequest.defaults(ModelFamily.SD15));
            assertEquals(List.of(true, true), idle);
        }
    }

    @Test
    void snapshotsDoNotShareMutableState() {
        registry.load(ref("a.safetensors"), "A");
        RegistrySnapshot one = registry.snapshot();
        registry.load(ref("b.safetensors"), "B");
        RegistrySnapshot two = registry.snapshot();
        assertNotSame(one.adapters(), two.adapters());
        assertEquals(List.of("A"), List.copyOf(one.adapters().keySet()));
        LoraAdapter a = one.adapters().get("A");
        assertSame(a, two.adapters().get("A"), "adapters themselves are shared, they are immutable");
    }
}
